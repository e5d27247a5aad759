"""Secrets by reference: integrations.yaml names a secret, a store resolves it at send time.

Sources, first match wins: values given in settings (`integrations.secrets`), the secrets
section of integrations.yaml (`{env: VAR}` or `{file: path}`), then `SELFHEAL_SECRET_<NAME>`
environment variables. Resolved values are registered with the redactor so they are masked
wherever they might surface.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from selfheal.integrations.errors import MissingSecret
from selfheal.integrations.redaction import Redactor


class Secrets(Protocol):
    """Resolve a secret by name; raise MissingSecret when nobody knows it."""

    def get(self, name: str) -> SecretStr: ...

    def known(self, name: str) -> bool: ...


def _env_name(name: str) -> str:
    return "SELFHEAL_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class MemorySecrets:
    """Secrets held in a dict: the test double and the `integrations.secrets` setting."""

    def __init__(
        self, values: Mapping[str, str | SecretStr] | None = None, *, redactor: Redactor | None
    ) -> None:
        self._values = {
            k: v if isinstance(v, SecretStr) else SecretStr(v) for k, v in (values or {}).items()
        }
        self._redactor = redactor

    def set(self, name: str, value: str) -> None:
        self._values[name] = SecretStr(value)

    def known(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str) -> SecretStr:
        try:
            value = self._values[name]
        except KeyError:
            raise MissingSecret(f"secret {name!r} is not defined") from None
        if self._redactor is not None:
            self._redactor.add(value.get_secret_value())
        return value


class SourcedSecrets:
    """Settings values, then integrations.yaml sources, then `SELFHEAL_SECRET_*` variables."""

    def __init__(
        self,
        inline: Mapping[str, SecretStr],
        sources: Mapping[str, Mapping[str, str]],
        *,
        redactor: Redactor,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._inline = dict(inline)
        self._sources = {k: dict(v) for k, v in sources.items()}
        self._redactor = redactor
        self._environ = environ if environ is not None else os.environ

    def known(self, name: str) -> bool:
        return name in self._inline or name in self._sources or _env_name(name) in self._environ

    def get(self, name: str) -> SecretStr:
        value = self._lookup(name)
        self._redactor.add(value)
        return SecretStr(value)

    def _lookup(self, name: str) -> str:
        if name in self._inline:
            return self._inline[name].get_secret_value()
        source = self._sources.get(name)
        if source is not None:
            if "value" in source:
                return source["value"]
            if "env" in source:
                value = self._environ.get(source["env"])
                if value is None:
                    raise MissingSecret(
                        f"secret {name!r}: environment variable {source['env']} is not set"
                    )
                return value
            if "file" in source:
                try:
                    return Path(source["file"]).read_text().strip()
                except OSError as exc:
                    raise MissingSecret(
                        f"secret {name!r}: cannot read {source['file']}: {exc.strerror}"
                    ) from None
        env = self._environ.get(_env_name(name))
        if env is not None:
            return env
        raise MissingSecret(
            f"secret {name!r} is not defined (integrations.secrets, the secrets section of "
            f"integrations.yaml, or {_env_name(name)})"
        )
