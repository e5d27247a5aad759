"""Where the website reads its kill switch from: the official Unleash SDK, or a dict in tests."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

Context = Mapping[str, Any]
"""An Unleash context: `userId`, `sessionId`, … and custom `properties` (a dict of strings)."""


class FlagSource(Protocol):
    def is_enabled(self, name: str, context: Context | None = None) -> bool: ...

    def ready(self) -> bool: ...

    def close(self) -> None: ...


class StaticFlags:
    """Flags held in memory; the test double and the `--flags static` mode."""

    def __init__(self, flags: dict[str, bool] | None = None) -> None:
        self.flags = dict(flags or {})

    def is_enabled(self, name: str, context: Context | None = None) -> bool:
        """The flag's value for everyone: a static source has no strategies to evaluate."""
        return self.flags.get(name, False)

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None


class UnleashFlags:
    """The official `UnleashClient` SDK pointed at the platform, as the seed's app used it.

    Streaming mode gets a flip to the app within milliseconds; polling (`refresh_interval=1`,
    the seed's setting) is the fallback for servers without `/api/client/streaming`.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        app_name: str = "website",
        environment: str = "production",
        streaming: bool = True,
        cache_directory: str | None = None,
    ) -> None:
        from UnleashClient.clients.unleash_client import UnleashClient

        self._cache_dir = cache_directory or tempfile.mkdtemp(prefix="selfheal-website-")
        options: dict[str, Any] = {}
        if streaming:
            options["experimental_mode"] = {"type": "streaming"}
        self.mode = "streaming" if streaming else "polling"
        self._client = UnleashClient(
            url=url.rstrip("/") + "/api",
            app_name=app_name,
            environment=environment,
            instance_id=f"{app_name}-demo",
            refresh_interval=1,
            metrics_interval=5,
            custom_headers={"Authorization": token},
            cache_directory=self._cache_dir,
            request_timeout=5,
            **options,
        )
        self._client.initialize_client()

    def is_enabled(self, name: str, context: Context | None = None) -> bool:
        """Evaluated by the SDK with `context`, so strategies and constraints apply."""
        return bool(self._client.is_enabled(name, dict(context) if context else None))

    def ready(self) -> bool:
        return bool(self._client.is_initialized) and bool(self._client.feature_definitions())

    def close(self) -> None:
        self._client.destroy()
