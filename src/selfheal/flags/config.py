"""Settings of the flags context (a section of the one frozen Settings tree)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FlagsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_environment: str = "production"
    environments: tuple[str, ...] = ("development", "production")
    projects: tuple[str, ...] = ("default",)
    admin_user: str = "admin"
    session_hours: float = Field(default=12.0, gt=0)
    # Short on purpose: an SDK whose read timeout (UnleashClient's request_timeout) is shorter
    # than the gap between two frames drops the stream, and a flip made while it reconnects
    # arrives seconds late. A comment line every 2 s keeps every usual timeout satisfied.
    keepalive_seconds: float = Field(default=2.0, gt=0)
    metrics_bucket_seconds: int = Field(default=60, ge=1)
    # How often every replica reads the flag revision from the database (the path that works
    # without the bus): a change on any replica is served everywhere within about this.
    revision_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # How long a flag write waits for its change event to be handed to the event log before
    # it answers anyway (the event still goes out in the background).
    publish_wait_seconds: float = Field(default=0.02, ge=0, le=10)
    # SDK registrations kept in memory (the oldest seen go first) and how long one lasts
    # without being seen again.
    applications_limit: int = Field(default=5000, ge=1)
    applications_ttl_seconds: float = Field(default=2 * 24 * 3600.0, gt=0)
