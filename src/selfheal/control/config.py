"""Settings of the control context (a section of the one frozen Settings tree)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ControlSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool = False
