"""Generic webhooks: any event type to any URL, with a templated body and an HMAC signature.

```yaml
- name: ops-hook
  type: webhook
  config:
    url: https://hooks.example.com/selfheal
    events: ["sh.keptn.event.*.remediation.finished", "sh.keptn.events.problem"]
    headers: {X-Team: sre}
    secret_headers: {X-Api-Key: {secret: hook-key}}
    body: '{"text": "{{.message}}", "project": "{{.data.project}}"}'
    hmac_secret: {secret: hook-hmac}     # adds X-Selfheal-Signature-256: sha256=<hex>
```
Without `body` the CloudEvent itself is sent (structured mode JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selfheal.bus import matches
from selfheal.integrations.messages import Notification
from selfheal.integrations.placeholders import render
from selfheal.integrations.plugins import PluginContext
from selfheal.integrations.references import SecretRef
from selfheal.integrations.signatures import hmac_header
from selfheal.integrations.transport import HttpRequest


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    url_secret: SecretRef | None = None
    method: str = "POST"
    events: list[str] = Field(default_factory=lambda: [">"])
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, SecretRef] = Field(default_factory=dict)
    body: str | None = None
    content_type: str = "application/json"
    hmac_secret: SecretRef | None = None
    signature_header: str = "X-Selfheal-Signature-256"
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError("set exactly one of url and url_secret")
        return self


class WebhookPlugin:
    type = "webhook"

    def __init__(self, name: str, config: WebhookConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        ctx.http.register("notify", self._build)

    def wants(self, event_type: str) -> bool:
        return any(matches(p, event_type) for p in self.config.events)

    async def _build(self, args: Mapping[str, Any]) -> HttpRequest:
        c = self.config
        values = dict(args["event"])
        values.update({"message": args.get("message", ""), "kind": args.get("kind", "")})
        if c.body is None:
            content = render("{{.event}}", {"event": args["event"]}).encode()
        else:
            content = render(c.body, values).encode()
        headers = {"Content-Type": c.content_type, **c.headers}
        for header, ref in c.secret_headers.items():
            headers[header] = self.ctx.secrets.get(ref.secret).get_secret_value()
        if c.hmac_secret is not None:
            secret = self.ctx.secrets.get(c.hmac_secret.secret).get_secret_value()
            headers[c.signature_header] = hmac_header(secret, content)
        url = c.url or self.ctx.secrets.get(c.url_secret.secret).get_secret_value()  # type: ignore[union-attr]
        return HttpRequest(c.method.upper(), url, headers, content=content, timeout=c.timeout)

    async def notify(self, n: Notification) -> None:
        if not self.wants(n.event.type):
            return
        args = {"event": n.event.to_dict(), "message": n.message, "kind": n.kind}
        # queued: a slow or failing receiver holds back only this integration's queue
        await self.ctx.http.enqueue(
            "notify",
            args,
            dedup_key=f"{self.name}:{n.event.source}:{n.event.id}",
            problem=n.problem.key if n.problem else None,
            keptn_context=n.keptn_context,
            event_type=n.event.type,
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def create(name: str, config: Mapping[str, Any], ctx: PluginContext) -> WebhookPlugin:
    return WebhookPlugin(name, WebhookConfig.model_validate(config), ctx)
