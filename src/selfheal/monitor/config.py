"""Settings of the monitor context (a section of the one frozen Settings tree)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MonitorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = None
