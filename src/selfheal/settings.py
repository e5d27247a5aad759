"""One typed, frozen settings tree from `SELFHEAL_*` variables and an optional YAML file.

Nested sections use `__`: `SELFHEAL_FLAGS__DEFAULT_ENVIRONMENT=production`. The YAML file
(`SELFHEAL_CONFIG` or `--config`) has the same shape; variables win over the file.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from selfheal.control.config import ControlSettings
from selfheal.flags.config import FlagsSettings
from selfheal.integrations.config import IntegrationsSettings
from selfheal.monitor.config import MonitorSettings
from selfheal.storage.config import StorageSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./.selfheal/selfheal.db"


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SELFHEAL_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    database_url: str = DEFAULT_DATABASE_URL
    bus_url: str = "memory://"
    # /readyz turns 503 once NATS has been unreachable this long (shorter outages are ridden
    # out: flags and tokens converge through the database, events wait in the outbox)
    bus_unready_seconds: float = Field(default=30.0, gt=0)
    test_fail_first_publish: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """A test seam, off by default: event-type patterns (NATS wildcards, comma list) whose
    first publish fails right after its commit (`selfheal.bus.seams`); the fault suite sets it."""
    host: str = "127.0.0.1"
    port: int = Field(default=4242, ge=1, le=65535)
    public_url: str | None = None
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Every request body is capped at this (413 beyond it)."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Origins a browser app may call the frontend API and OFREP from (`*`: any, as Unleash)."""
    secret_key: SecretStr | None = None  # unused since sessions are rows; kept for old env files
    admin_password: SecretStr | None = None
    ui_users: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """More console users, `name:role:password` (role viewer, responder or admin)."""
    session_idle_minutes: float = Field(default=30.0, gt=0)
    init_admin_api_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    init_backend_api_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    init_frontend_api_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    flags: FlagsSettings = Field(default_factory=FlagsSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    integrations: IntegrationsSettings = Field(default_factory=IntegrationsSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    _split_tokens = field_validator(
        "cors_origins",
        "init_admin_api_tokens",
        "init_backend_api_tokens",
        "init_frontend_api_tokens",
        "ui_users",
        "test_fail_first_publish",
        mode="before",
    )(_split)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("SELFHEAL_CONFIG")
        if path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)
