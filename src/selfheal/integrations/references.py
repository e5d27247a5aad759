"""`{secret: name}` in plugin settings: a reference resolved at send time, never a value."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class SecretRef(BaseModel):
    """Names a secret; YAML `{secret: jira-token}` or the short string `secret:jira-token`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: str

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("secret:") and len(value) > 7:
                return {"secret": value[7:]}
            raise ValueError("secrets are given by reference: {secret: name}")
        return value
