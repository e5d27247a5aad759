"""Settings of the monitor context (a section of the one frozen Settings tree)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebhookSettings(BaseModel):
    """A problem-notification receiver: the Dynatrace→Keptn template or a Jinja template file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    template: str = "dynatrace"
    headers: dict[str, str] = Field(default_factory=dict)


class MonitorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = None
    """Path of a monitor.yaml applied at start."""
    sensitivity: str = Field(default="medium", pattern="^(low|medium|high)$")
    scrape_timeout: float = Field(default=2.0, gt=0)
    max_points: int = Field(default=4000, ge=100, le=100_000)
    """Points kept per service (at 1 s scrapes, a little over an hour)."""
    hold_seconds: float = Field(default=60.0, ge=0)
    """A problem resolves only after its signal has been healthy this long."""
    reopen_seconds: float = Field(default=300.0, ge=0)
    """A recurrence within this period after a resolve reopens the same problem."""
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    webhook_retries: int = Field(default=5, ge=0, le=20)
    webhook_backoff: float = Field(default=1.0, gt=0)
    services_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often each replica checks the database's service revision (the fallback for a
    missed broadcast: a service added or deleted on one replica is followed everywhere)."""
    samples_flush_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often the leader writes its buffered SLI samples to the database."""
    run_loops: bool = True
    """False leaves scraping to explicit `tick()` calls (tests and the bench)."""
