"""Storage: the engine factory, migrations and the event store."""

from __future__ import annotations

from selfheal.storage.config import RetentionSettings, StorageSettings
from selfheal.storage.database import Database, StorageError, normalize_url, redact
from selfheal.storage.events import (
    EventPage,
    EventQuery,
    EventStore,
    MemoryEventStore,
    SqlEventStore,
)
from selfheal.storage.relay import OutboxRelay
from selfheal.storage.retention import Pruner, Rule

__all__ = [
    "Database",
    "EventPage",
    "EventQuery",
    "EventStore",
    "MemoryEventStore",
    "OutboxRelay",
    "Pruner",
    "RetentionSettings",
    "Rule",
    "SqlEventStore",
    "StorageError",
    "StorageSettings",
    "normalize_url",
    "redact",
]
