"""Outbound delivery, infrastructure below the contexts (like the bus): a lease-held row per
delivery, retries with backoff, dead letters, resume after a crash, per-endpoint queues.
The integrations' calls and the monitor's webhooks both go through it."""

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
from selfheal.delivery.errors import DeliveryNotFound, NotRetryable
from selfheal.delivery.outbox import Attempt, Outbox, RetryPolicy, Sender

__all__ = [
    "DEAD",
    "PENDING",
    "SUCCEEDED",
    "Attempt",
    "Delivery",
    "DeliveryNotFound",
    "DeliveryQuery",
    "DeliveryStore",
    "DuplicateDelivery",
    "MemoryDeliveryStore",
    "NotRetryable",
    "Outbox",
    "RetryPolicy",
    "Sender",
    "SqlDeliveryStore",
]
