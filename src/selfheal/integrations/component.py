"""The integrations context as a component: plugins from integrations.yaml, the outbox, the
action providers it registers with the control plane, and the write-back of steps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from selfheal.core import CloudEvent
from selfheal.core.keptn import PROBLEM_ESCALATED
from selfheal.delivery import DeliveryStore, Outbox, RetryPolicy, SqlDeliveryStore
from selfheal.integrations import messages as m
from selfheal.integrations import restores
from selfheal.integrations.addresses import UrlGuard
from selfheal.integrations.callouts import WebhookActionProvider
from selfheal.integrations.comments import ProblemComments
from selfheal.integrations.config import IntegrationsSettings
from selfheal.integrations.errors import ConfigError, IntegrationError
from selfheal.integrations.escalations import EscalateProvider
from selfheal.integrations.grants import SecretGrants
from selfheal.integrations.jira import COMMENT_EVENT
from selfheal.integrations.links import Links, SqlLinks
from selfheal.integrations.manifests import IntegrationSpec, Manifest, load_manifest
from selfheal.integrations.plugins import (
    Factory,
    Plugin,
    PluginContext,
    PluginHttp,
    discover,
    factory_for,
    plugin_logger,
)
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.secrets import Secrets, SourcedSecrets
from selfheal.integrations.slis import MonitorSliProvider
from selfheal.integrations.toggles import RolloutSwitch, ToggleProvider
from selfheal.integrations.transport import HttpClient, HttpxClient
from selfheal.integrations.unleash import UnleashAdmin

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.bus import Subscription
    from selfheal.control import ControlComponent
    from selfheal.flags import FlagsComponent
    from selfheal.monitor import MonitorComponent
    from selfheal.runtime import Runtime

log = logging.getLogger(__name__)


class IntegrationsComponent:
    name = "integrations"

    def __init__(
        self,
        runtime: Runtime,
        settings: IntegrationsSettings,
        *,
        flags: FlagsComponent,
        monitor: MonitorComponent,
        control: ControlComponent,
        http: HttpClient | None = None,
        deliveries: DeliveryStore | None = None,
        outbox: Outbox | None = None,
        secrets: Secrets | None = None,
        manifest: Manifest | None = None,
        factories: dict[str, Factory] | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.flags = flags
        self.monitor = monitor
        self.control = control
        self.redactor = Redactor(v.get_secret_value() for v in settings.secrets.values())
        self.http: HttpClient = http or HttpxClient(default_timeout=settings.timeout_seconds)
        self._owns_http = http is None
        self.manifest = manifest
        self._manifest_given = manifest is not None
        self._secrets = secrets
        self._factories = factories
        # the outbox is shared infrastructure (`selfheal.delivery`): the composition root
        # gives the one it starts and stops; a component built alone makes its own
        self._owns_outbox = outbox is None
        self.outbox = outbox or shared_outbox(
            deliveries or SqlDeliveryStore(runtime.database), runtime, settings
        )
        self.store: DeliveryStore = self.outbox.store
        self.ui_url = (settings.ui_url or runtime.public_url).rstrip("/")
        self.plugins: dict[str, Plugin] = {}
        self.specs: dict[str, IntegrationSpec] = {}
        self.providers: list[Any] = []
        self.comments: ProblemComments | None = None
        self._subscriptions: list[Subscription] = []
        self._escalate: EscalateProvider | None = None
        self._turns: dict[str, asyncio.Lock] = {}

    # -- assembly -------------------------------------------------------------------------
    def load(self) -> Manifest:
        """Read integrations.yaml (once); ConfigError with the line if it is wrong."""
        if self.manifest is None:
            path = self.settings.file
            if path is None:
                self.manifest = Manifest()
            else:
                try:
                    text = Path(path).read_text()
                except OSError as exc:
                    raise ConfigError(f"cannot read {path}: {exc.strerror}", field="file") from None
                self.manifest = load_manifest(text)
        return self.manifest

    @property
    def secrets(self) -> Secrets:
        if self._secrets is None:
            self._secrets = SourcedSecrets(
                self.settings.secrets, self.load().secrets, redactor=self.redactor
            )
        return self._secrets

    @property
    def grants(self) -> SecretGrants:
        """The secrets each project's webhooks may use: settings and integrations.yaml."""
        return SecretGrants(self.settings.webhook_secrets, self.load().webhook_secrets)

    def links(self, integration: str) -> Links:
        return SqlLinks(self.runtime.database, integration)

    def _build_plugins(self) -> None:
        manifest = self.load()
        factories = self._factories if self._factories is not None else discover()
        for spec in manifest.integrations:
            if not spec.enabled:
                continue
            factory = factory_for(spec.type, factories)
            ctx = PluginContext(
                name=spec.name,
                emit=self.runtime.events.publish,
                http=PluginHttp(spec.name, self.outbox, self.http, self.redactor),
                secrets=self.secrets,
                log=plugin_logger(spec.name, self.redactor),
                links=self.links(spec.name),
                clock=self.runtime.clock,
                ui_url=self.ui_url,
            )
            try:
                plugin = factory(spec.name, spec.config, ctx)
            except ValidationError as exc:
                first = exc.errors()[0]
                sub = ".".join(str(p) for p in first["loc"] if p != "[key]")  # a bad key is the key
                where = f"{spec.path}.config" + (f".{sub}" if sub else "")
                raise ConfigError(first["msg"], field=where, line=manifest.line(where)) from None
            self.plugins[spec.name] = plugin
            self.specs[spec.name] = spec

    def _build_providers(self) -> None:
        s = self.settings
        remote = None
        if s.unleash_url:
            if s.unleash_token is None:
                raise ConfigError("unleash_url needs unleash_token", field="unleash_token")
            remote = UnleashAdmin(
                s.unleash_url,
                s.unleash_token,
                outbox=self.outbox,
                http=self.http,
                redactor=self.redactor,
                legacy=s.unleash_legacy,
            )
        self._escalate = EscalateProvider(self.broadcast, ui_url=self.ui_url)
        self.providers = [
            ToggleProvider(
                local=self.flags.service,
                remote=remote,
                environments=s.environments,
                flag_project=s.flag_project,
            ),
            WebhookActionProvider(
                outbox=self.outbox,
                http=self.http,
                secrets=self.secrets,
                grants=self.grants,
                guard=UrlGuard(
                    deny=s.webhook_deny,
                    allow=s.webhook_allow,
                    deny_private=s.webhook_deny_private,
                ),
                redactor=self.redactor,
                timeout=s.timeout_seconds,
                now=self.runtime.clock.now,
            ),
            self._escalate,
        ]

    # -- notifications --------------------------------------------------------------------
    def _notification(self, event: CloudEvent) -> m.Notification:
        found = m.notification_of(event, ui_url=self.ui_url)
        if found is not None:
            return found
        return m.Notification(
            kind="event", event=event, message="", keptn_context=event.shkeptncontext
        )

    async def _deliver_to(self, name: str, n: m.Notification) -> None:
        spec = self.specs[name]
        if spec.events is not None and n.kind not in spec.events and n.kind != m.ESCALATION:
            return
        # whoever hands a plugin a notification (its two subscriptions — Keptn's events, the
        # restore's — and escalations) takes turns: the plugin's remembered state (a ticket's
        # link) is read, changed and written by one at a time in this process
        async with self._turns.setdefault(name, asyncio.Lock()):
            try:
                await self.plugins[name].notify(n)
            except IntegrationError as exc:
                log.warning("integration %s: %s", name, self.redactor.text(str(exc)))

    def _handler(self, name: str, *, only: Collection[str] | None = None) -> Any:
        async def handle(event: CloudEvent) -> None:
            if only is not None and event.type not in only:
                return
            await self._deliver_to(name, self._notification(event))

        return handle

    async def broadcast(self, n: m.Notification) -> int:
        """Hand a notification (an escalation) to every plugin; returns how many took it."""
        for name in self.plugins:
            await self._deliver_to(name, n)
        return len(self.plugins)

    async def on_escalated(self, event: CloudEvent) -> None:
        """A remediation gave up (exhausted, breaker open): tell people through every
        notifier, as an explicit `escalate` action does."""
        data = event.payload()
        note = m.escalation(
            event,
            message=(
                f"Escalation: the remediation of {data.get('project')}/{data.get('stage')}/"
                f"{data.get('service')} needs a human - {data.get('message') or 'no more actions'}"
            ),
            ui_url=self.ui_url,
            extra={"reason": str(data.get("reason") or "")},
        )
        await self.broadcast(note)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._build_plugins()
        self._build_providers()
        control = self.control.service
        for provider in self.providers:
            control.register_action_provider(provider)
        control.register_sli_provider("monitor", MonitorSliProvider(self.monitor.service))
        control.register_resource_check(self.grants.check_resource)
        # restores: the monitor's problems and origin probes, the local flags service (a remote
        # Unleash is not driven by restores: they wait, saying so, rather than flip a local copy)
        self.control.restores.use(desk=self.monitor.service, origin=self.monitor.service)
        if not self.settings.unleash_url:
            self.control.restores.use(switch=RolloutSwitch(self.flags.service))
        events = self.runtime.events
        self.comments = ProblemComments(self.monitor.service, self.outbox, ui_url=self.ui_url)
        self._subscriptions.append(
            await events.subscribe(
                "sh.keptn.>", self.comments.handle, group="integrations.problem-comments"
            )
        )
        self._subscriptions.append(
            await events.subscribe(
                COMMENT_EVENT, self.comments.handle, group="integrations.comment-sync"
            )
        )
        self._subscriptions.append(
            await events.subscribe(
                PROBLEM_ESCALATED, self.on_escalated, group="integrations.escalations"
            )
        )
        for name, plugin in self.plugins.items():
            await plugin.start()
            self._subscriptions.append(
                await events.subscribe(
                    "sh.keptn.>", self._handler(name), group=f"integrations.{name}"
                )
            )
            # the restore's course beyond Keptn's events: mitigated, verified, steps …
            self._subscriptions.append(
                await events.subscribe(
                    restores.SELFHEAL_EVENTS,
                    self._handler(name, only=restores.EVENT_TYPES),
                    group=f"integrations.{name}",
                )
            )
        # every sender is registered now: finish what a restart (or a dead replica) cut off
        if self._owns_outbox:
            await self.outbox.start()

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        for plugin in self.plugins.values():
            await plugin.stop()
        if self._escalate is not None:
            await self._escalate.drain()
        if self._owns_outbox:
            await self.outbox.close()
        if self._owns_http:
            await self.http.close()

    def routers(self) -> list[APIRouter]:
        from selfheal.integrations.api import router
        from selfheal.integrations.pages import router as pages

        return [router(self), pages(self)]


def shared_outbox(store: DeliveryStore, runtime: Runtime, settings: IntegrationsSettings) -> Outbox:
    """The outbox with the integrations' retry policy as its default (a registration may
    bring its own: the monitor's webhooks do)."""
    return Outbox(
        store,
        runtime.clock,
        policy=RetryPolicy(
            settings.max_attempts, settings.backoff_seconds, settings.max_backoff_seconds
        ),
        registry=runtime.registry,
        lease=max(60.0, 3 * settings.timeout_seconds),
    )
