"""Settings of the flags context (a section of the one frozen Settings tree)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FlagsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_environment: str = "production"
