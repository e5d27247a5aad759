"""Delivery records moved to `selfheal.delivery` (the outbox is infrastructure below the
contexts now). This name stays so imports written against the old place keep working; new
code imports `selfheal.delivery`."""

from __future__ import annotations

from selfheal.delivery.deliveries import (
    DEAD,
    PENDING,
    SUCCEEDED,
    Delivery,
    DeliveryQuery,
    DeliveryStore,
    DuplicateDelivery,
    MemoryDeliveryStore,
    SqlDeliveryStore,
)

__all__ = [
    "DEAD",
    "PENDING",
    "SUCCEEDED",
    "Delivery",
    "DeliveryQuery",
    "DeliveryStore",
    "DuplicateDelivery",
    "MemoryDeliveryStore",
    "SqlDeliveryStore",
]
