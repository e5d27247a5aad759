"""Settings of the control context (a section of the one frozen Settings tree)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ControlSettings(BaseModel):
    """Every wait here is read against `runtime.clock`, so tests can run them in milliseconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool = False
    """Run the sequence, hand providers `dry_run=True`: they record what they would do."""
    cooldown_seconds: float = Field(default=0.0, ge=0)
    """Minimum time between two actions on one project/stage/service; later actions wait."""
    breaker_max_actions: int = Field(default=10, ge=1)
    """Circuit breaker: at most this many actions per service within `breaker_window_seconds`;
    past it the sequence escalates instead of acting."""
    breaker_window_seconds: float = Field(default=3600.0, gt=0)
    start_timeout_seconds: float = Field(default=120.0, gt=0)
    """A triggered task nobody starts (or finishes) within this ends errored."""
    task_timeout_seconds: float = Field(default=900.0, gt=0)
    """A started task that does not finish within this ends errored."""
    require_approval: bool = False
    """Insert an `approval` task before every remediation action."""
    approval_expiry_seconds: float = Field(default=3600.0, gt=0)
    max_triggered_after_seconds: float = Field(default=86400.0, gt=0)
    prometheus_url: str | None = None
    """The Prometheus server queried with the PromQL of sli.yaml (SLI provider `prometheus`)."""
    escalate_action: str = "escalate"
    """The action run when remediation is exhausted or the circuit breaker is open."""
    workers: int = Field(default=8, ge=1, le=256)
    """Concurrent event handlers per replica (members of the durable consumer group)."""
    replica_id: str | None = Field(default=None, max_length=64)
    """This replica's stable id (e.g. the pod or host name): after a restart it takes its own
    sequences back at once. Default: `local` on SQLite (one process), else a random id per
    process (a restarted replica's sequences are taken over when their lease expires)."""
    lease_seconds: float = Field(default=10.0, gt=0)
    """A sequence (or running action) whose owner stopped heartbeating for this long is
    taken over by another replica."""
    heartbeat_seconds: float = Field(default=3.0, gt=0)
    """How often a replica renews its leases (well below `lease_seconds`)."""
    poll_seconds: float = Field(default=1.0, gt=0)
    """How often a replica looks for orphaned sequences and due timers in the database."""
    reopen_seconds: float = Field(default=60.0, ge=0)
    """An OPEN without an occurrence number for a problem whose occurrence resolved starts a
    new occurrence only this long after the RESOLVED (earlier: a repeat)."""
    restore_hold_seconds: float = Field(default=900.0, ge=0)
    """A person who flips a kill switch while its problem is mitigated puts that service's
    restore on hold this long (automation does not touch the flag meanwhile)."""
    restore_check_seconds: float = Field(default=2.0, gt=0)
    """How often a restore step looks at the origin's failure rate during its hold."""
