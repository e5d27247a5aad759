"""One typed, frozen settings tree from `SELFHEAL_*` variables and an optional YAML file.

Nested sections use `__`: `SELFHEAL_FLAGS__DEFAULT_ENVIRONMENT=production`. The YAML file
(`SELFHEAL_CONFIG` or `--config`) has the same shape; variables win over the file.

Unknown keys are errors, in the file (pydantic's `extra="forbid"`) and in the environment: a
`SELFHEAL_*` variable that names no setting (a typo such as `SELFHEAL_DATABASE_ULR`) stops the
start instead of being ignored, except the few variables that belong to tools rather than to
the server (`TOOL_VARIABLES`, `SELFHEAL_SECRET_*`). A `SELFHEAL_CONFIG` that names no file is
an error too.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
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


TOOL_VARIABLES = frozenset(
    {
        "SELFHEAL_CONFIG",  # the settings file itself
        "SELFHEAL_URL",  # the CLI's server (selfheal.cli.client)
        "SELFHEAL_TOKEN",  # the CLI's API token
        "SELFHEAL_INSTALL_TOOLS",  # scripts/install-tools.sh
        "SELFHEAL_IMAGE",  # scripts/image.sh and the container tests
        "SELFHEAL_IMAGE_CACHE",
        "SELFHEAL_IMAGE_REBUILD",
        "SELFHEAL_NODE_CACHE",  # bench/flags (unleash-server from npm)
        "SELFHEAL_HTTP_PORT",  # compose.yaml's published port
        "SELFHEAL_SHARED",  # the test suite's shared seed files
        "SELFHEAL_TEST_NATS",  # the test suite's services
        "SELFHEAL_TEST_PG",
        "SELFHEAL_FAULTS_NATS_DOWN",  # bench/faults.py
        "SELFHEAL_FAULTS_REPORT",
    }
)
"""`SELFHEAL_*` variables that are not server settings (read by the CLI, scripts and tests)."""
TOOL_PREFIXES = ("SELFHEAL_SECRET_",)
"""Integration secrets (`selfheal.integrations.secrets`): any name after the prefix."""


_CONFIG_FILE: ContextVar[str | None] = ContextVar("selfheal_config_file", default=None)
"""`--config` for the settings being loaded (wins over `SELFHEAL_CONFIG`; the environment is
left as it was)."""


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each variable or key and never a value."""


def _setting_names(model: type[BaseModel], prefix: str = "SELFHEAL_") -> Iterator[str]:
    for name, field in model.model_fields.items():
        yield prefix + name.upper()
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _setting_names(annotation, prefix + name.upper() + "__")


def _open_prefixes(model: type[BaseModel], prefix: str = "SELFHEAL_") -> Iterator[str]:
    """`SELFHEAL_…__` prefixes of mapping-typed settings, whose keys are the user's own
    (`SELFHEAL_INTEGRATIONS__SECRETS__JIRA_TOKEN` sets the key `jira_token`)."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _open_prefixes(annotation, prefix + name.upper() + "__")
        elif get_origin(annotation) in (dict, Mapping) or annotation is dict:
            yield prefix + name.upper() + "__"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The `SELFHEAL_*` names in `environ` that are neither a setting nor a tool's variable."""
    known = set(_setting_names(Settings))
    open_prefixes = TOOL_PREFIXES + tuple(_open_prefixes(Settings))
    unknown = []
    for name in environ:
        upper = name.upper()
        if not upper.startswith("SELFHEAL_") or upper in TOOL_VARIABLES:
            continue
        if upper.startswith(open_prefixes) or upper in known:
            continue
        unknown.append(name)
    return sorted(unknown)


def _unknown_message(names: list[str]) -> str:
    known = sorted(set(_setting_names(Settings)) | TOOL_VARIABLES)
    lines = []
    for name in names:
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"{name}: no such setting{hint}")
    return "unknown settings in the environment:\n  " + "\n  ".join(lines)


def _validation_message(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        path = [str(part) for part in item["loc"]]
        variable = "SELFHEAL_" + "__".join(p.upper() for p in path)
        key = ".".join(path)
        message = "no such setting" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{variable} (or '{key}' in the settings file): {message}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(
    config: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from the environment and the file, with every problem as one `SettingsError`.

    `config` (the CLI's `--config`) is used as `SELFHEAL_CONFIG`. Messages name variables and
    keys, never values (a bad value may be a secret).
    """
    token = _CONFIG_FILE.set(str(config) if config is not None else None)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_validation_message(error)) from None
    finally:
        _CONFIG_FILE.reset(token)


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
        unknown = unknown_variables(os.environ)
        if unknown:
            raise SettingsError(_unknown_message(unknown))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_FILE.get() or os.environ.get("SELFHEAL_CONFIG")
        if path:
            if not Path(path).is_file():
                raise SettingsError(
                    f"the settings file {path} (SELFHEAL_CONFIG or --config) is not a file"
                )
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)
