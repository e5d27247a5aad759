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

__all__ = [
    "Database",
    "EventPage",
    "EventQuery",
    "EventStore",
    "MemoryEventStore",
    "SqlEventStore",
    "StorageError",
    "normalize_url",
    "redact",
]
