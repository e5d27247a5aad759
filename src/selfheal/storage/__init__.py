"""Storage: the engine factory, migrations and the event store."""

from __future__ import annotations

from selfheal.storage.database import Database, StorageError, normalize_url, redact
from selfheal.storage.events import (
    EventPage,
    EventQuery,
    EventStore,
    MemoryEventStore,
    SqlEventStore,
)
from selfheal.storage.relay import OutboxRelay

__all__ = [
    "Database",
    "EventPage",
    "EventQuery",
    "EventStore",
    "MemoryEventStore",
    "OutboxRelay",
    "SqlEventStore",
    "StorageError",
    "normalize_url",
    "redact",
]
