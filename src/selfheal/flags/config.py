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
