"""Settings of the storage layer: the outbox relay and the retention windows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetentionSettings(BaseModel):
    """How long rows are kept, per kind of data (0 keeps them forever). Rows older than their
    window are deleted in small batches by each replica's pruner (`storage.retention`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events_days: float = Field(default=30.0, ge=0)
    """The CloudEvent store (events still waiting in the outbox are never pruned)."""
    audit_days: float = Field(default=365.0, ge=0)
    """The flag audit log (its newest row, the flags' revision, is always kept)."""
    sequences_days: float = Field(default=90.0, ge=0)
    """Finished control-plane sequences, their problem occurrences and action ledger."""
    problems_days: float = Field(default=90.0, ge=0)
    """Closed problems and their comments."""
    deliveries_days: float = Field(default=30.0, ge=0)
    """Outbound deliveries that ended (delivered or failed for good)."""
    samples_hours: float = Field(default=24.0, ge=0)
    """SLI samples of the monitor."""
    interval_seconds: float = Field(default=300.0, gt=0)
    """Time between two pruning passes."""
    batch: int = Field(default=500, ge=1, le=10_000)
    """Rows deleted per statement (one short transaction each)."""


class StorageSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    publish_wait_seconds: float = Field(default=1.0, gt=0, le=30)
    """How long a state change waits for the bus to acknowledge its events before it goes
    on without (the outbox relay publishes them); while the bus fails it does not wait."""
    relay_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    """How often the outbox relay looks for events the bus has not acknowledged."""
    relay_batch: int = Field(default=200, ge=1, le=5000)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
