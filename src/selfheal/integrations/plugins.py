"""Plugins: what an integration is, the narrow context it gets, and how it is found.

A plugin type is an entry point in the `selfheal.integrations` group pointing at a factory
`create(name, config, context) -> Plugin`. The context is all a plugin may touch: `emit`
(publish a CloudEvent), `http` (send through the recorded, retried outbox), `secrets`,
`log` (redacting), plus `links` (its own small persistent state) and the clock and UI URL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from selfheal.core import Clock, CloudEvent
from selfheal.delivery import Delivery, Outbox
from selfheal.integrations.errors import UnknownPlugin
from selfheal.integrations.links import Links
from selfheal.integrations.messages import Notification
from selfheal.integrations.outbox import Accepter, Builder, Checker, HttpSender, Settled
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.secrets import Secrets
from selfheal.integrations.transport import (
    HttpClient,
    HttpRequest,
    HttpResponse,
    TransportFailure,
)

GROUP = "selfheal.integrations"
Emit = Callable[[CloudEvent], Awaitable[bool]]


class PluginHttp:
    """A plugin's view of the outbox: register request builders, then deliver by kind."""

    def __init__(self, name: str, outbox: Outbox, client: HttpClient, redactor: Redactor) -> None:
        self._name = name
        self._outbox = outbox
        self._client = client
        self._redactor = redactor

    def register(
        self,
        kind: str,
        build: Builder,
        *,
        check: Checker | None = None,
        accept: Accepter | None = None,
        settled: Settled | None = None,
    ) -> None:
        sender = HttpSender(
            self._client,
            build,
            redactor=self._redactor,
            check=check,
            accept=accept,
            settled=settled,
        )
        self._outbox.register(self._name, kind, sender)

    async def deliver(self, kind: str, args: Mapping[str, Any], **meta: Any) -> Delivery:
        return await self._outbox.deliver(self._name, kind, args, **meta)

    async def enqueue(
        self, kind: str, args: Mapping[str, Any], *, endpoint: str | None = None, **meta: Any
    ) -> Delivery:
        """Record and return at once; sent in the endpoint's own queue (the integration's
        when None), so the bus handler never waits for a receiver's backoff."""
        return await self._outbox.enqueue(
            self._name, kind, args, endpoint=endpoint or self._name, **meta
        )

    def spawn(self, kind: str, args: Mapping[str, Any], **meta: Any) -> None:
        self._outbox.spawn(self._name, kind, args, **meta)

    async def fetch(self, request: HttpRequest) -> HttpResponse | None:
        """One unrecorded read (polling would flood the delivery list); None if no answer."""
        try:
            return await self._client.send(request)
        except TransportFailure:
            return None


class RedactingFilter(logging.Filter):
    """Masks known secret values in a record's final message before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self._redactor.text(message)
        record.args = None
        return True


@dataclass(frozen=True)
class PluginContext:
    name: str
    emit: Emit
    http: PluginHttp
    secrets: Secrets
    log: logging.Logger
    links: Links
    clock: Clock
    ui_url: str


class Plugin(Protocol):
    """A configured integration. `notify` must not raise for delivery failures: the outbox
    records them; it may raise only for bugs (the bus then redelivers the event)."""

    name: str
    type: str

    async def start(self) -> None: ...

    async def notify(self, notification: Notification) -> None: ...

    async def stop(self) -> None: ...


Factory = Callable[[str, Mapping[str, Any], PluginContext], Plugin]

BUILTIN: dict[str, str] = {
    "jira": "selfheal.integrations.jira:create",
    "slack": "selfheal.integrations.slack:create",
    "dynatrace": "selfheal.integrations.dynatrace:create",
    "webhook": "selfheal.integrations.webhooks:create",
}


def _load(target: str) -> Factory:
    from importlib import import_module

    module, _, attr = target.partition(":")
    factory: Factory = getattr(import_module(module), attr)
    return factory


def discover() -> dict[str, Factory]:
    """Plugin factories by type: entry points, with the built-ins as a floor (an editable
    install whose metadata predates a new entry point still finds its own plugins)."""
    found: dict[str, Factory] = {name: _load(target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.load()
    return found


def factory_for(kind: str, factories: Mapping[str, Factory]) -> Factory:
    try:
        return factories[kind]
    except KeyError:
        known = ", ".join(sorted(factories))
        raise UnknownPlugin(
            f"unknown integration type {kind!r} (known: {known})", field="type"
        ) from None


def plugin_logger(name: str, redactor: Redactor) -> logging.Logger:
    logger = logging.getLogger(f"selfheal.integrations.plugin.{name}")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter(redactor))
    return logger
