"""The action providers: toggle-feature (local and remote Unleash), webhook, escalate."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from selfheal.control import Action, ActionRequest
from selfheal.delivery import DeliveryQuery, MemoryDeliveryStore, Outbox, RetryPolicy
from selfheal.integrations.addresses import UrlGuard
from selfheal.integrations.callouts import WebhookActionProvider
from selfheal.integrations.errors import BlockedUrl
from selfheal.integrations.escalations import EscalateProvider
from selfheal.integrations.grants import SecretGrants
from selfheal.integrations.messages import Notification
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.secrets import MemorySecrets
from selfheal.integrations.toggles import ToggleProvider
from selfheal.integrations.transport import HttpResponse, MemoryHttp
from selfheal.integrations.unleash import UnleashAdmin
from tests.unit.integrations.fakes import RecordingClock


class Resources:
    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(files)

    async def read(self, uri: str) -> str | None:
        return self.files.get(uri)


class Flags:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool, str, str]] = []

    async def set_enabled(
        self,
        flag: str,
        environment: str,
        enabled: bool,
        *,
        project: str = "default",
        actor: str = "system",
    ) -> bool:
        self.calls.append((flag, environment, enabled, project, actor))
        return True


def request(
    action: str, value: Any, *, files: Mapping[str, str] | None = None, dry_run: bool = False
) -> ActionRequest:
    return ActionRequest(
        keptn_context="ctx-9",
        action_index=0,
        action=Action(name="a", action=action, description="fix it", value=value),
        project="website",
        stage="production",
        service="front-end",
        problem={"PID": "P9", "ProblemTitle": "Failure rate increase"},
        labels={"Problem URL": "http://x/p"},
        dry_run=dry_run,
        resources=Resources(files or {}),
    )


def outbox() -> Outbox:
    return Outbox(
        MemoryDeliveryStore(),
        RecordingClock(),
        policy=RetryPolicy(2, 0.0, 0.0),
        registry=CollectorRegistry(),
    )


@pytest.mark.parametrize("value", [{"EnableStaticContent": "on"}, "EnableStaticContent:on"])
async def test_toggle_local_in_stage_environment(value: Any) -> None:
    flags = Flags()
    result = await ToggleProvider(local=flags).execute(request("toggle-feature", value))
    assert (result.status, result.result) == ("succeeded", "pass")
    assert flags.calls == [
        ("EnableStaticContent", "production", True, "default", "remediation:ctx-9")
    ]


async def test_toggle_environment_from_value_or_mapping() -> None:
    flags = Flags()
    provider = ToggleProvider(local=flags, environments={"production": "prod"})
    await provider.execute(request("featuretoggle", "EnableStaticContent:off"))
    await provider.execute(
        request("toggle-feature", {"EnableStaticContent": "on", "environment": "canary"})
    )
    assert [(c[1], c[2]) for c in flags.calls] == [("prod", False), ("canary", True)]


async def test_toggle_bad_value_and_dry_run() -> None:
    flags = Flags()
    provider = ToggleProvider(local=flags)
    bad = await provider.execute(request("toggle-feature", "EnableStaticContent:maybe"))
    assert bad.status == "errored"
    dry = await provider.execute(request("toggle-feature", {"X": "on"}, dry_run=True))
    assert dry.status == "succeeded" and "would switch X on" in dry.message
    assert flags.calls == []


@pytest.mark.parametrize("legacy", [False, True])
async def test_toggle_remote_unleash_routes(legacy: bool) -> None:
    http = MemoryHttp(lambda _r: HttpResponse(200))
    box = outbox()
    remote = UnleashAdmin(
        "http://unleash.example/api",
        __import__("pydantic").SecretStr("*:*.tok"),
        outbox=box,
        http=http,
        redactor=Redactor(),
        legacy=legacy,
    )
    result = await ToggleProvider(local=None, remote=remote).execute(
        request("toggle-feature", "EnableStaticContent:on")
    )
    assert result.status == "succeeded", result.message
    [sent] = http.requests
    assert sent.method == "POST"
    if legacy:
        assert sent.url == "http://unleash.example/api/admin/features/EnableStaticContent/toggle/on"
        assert (
            sent.headers["Authorization"]
            == "Basic " + base64.b64encode(b"selfheal:*:*.tok").decode()
        )
    else:
        assert sent.url == (
            "http://unleash.example/api/admin/projects/default/features/"
            "EnableStaticContent/environments/production/on"
        )
        assert sent.headers["Authorization"] == "*:*.tok"
    # idempotent for one (context, index): a repeated request sends nothing
    await ToggleProvider(local=None, remote=remote).execute(
        request("toggle-feature", "EnableStaticContent:on")
    )
    assert len(http.requests) == 1


async def test_toggle_remote_failure_is_errored() -> None:
    http = MemoryHttp(lambda _r: HttpResponse(401, {}, b"unauthorized"))
    remote = UnleashAdmin(
        "http://u.example",
        __import__("pydantic").SecretStr("tok-abc"),
        outbox=outbox(),
        http=http,
        redactor=Redactor(),
    )
    result = await ToggleProvider(local=None, remote=remote).execute(
        request("toggle-feature", {"F": "on"})
    )
    assert result.status == "errored" and "401" in result.message


WEBHOOK = """\
apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
metadata: {name: webhook-configuration}
spec:
  webhooks:
    - type: sh.keptn.event.action.triggered
      envFrom:
        - name: token
          secretRef: {name: pager, key: token}
      requests:
        - url: %s/hooks/{{.data.project}}
          method: POST
          headers:
            - {key: Authorization, value: "Bearer {{.env.token}}"}
          payload: '{"service": "{{.data.service}}", "context": "{{.shkeptncontext}}", "action": "{{.data.action.action}}"}'
"""


def webhook_provider(
    http: MemoryHttp,
    *,
    allow: list[str] | None = None,
    grants: SecretGrants | None = None,
) -> tuple[WebhookActionProvider, Outbox]:
    box = outbox()
    redactor = Redactor()
    provider = WebhookActionProvider(
        outbox=box,
        http=http,
        secrets=MemorySecrets(
            {"pager.token": "pager-secret-1", "jira-token": "jira-secret-2"}, redactor=redactor
        ),
        grants=grants or SecretGrants({"website": ["pager"]}),
        guard=UrlGuard(allow=allow or []),
        redactor=redactor,
    )
    return provider, box


async def test_webhook_action_renders_and_sends() -> None:
    http = MemoryHttp()
    provider, box = webhook_provider(http)
    files = {"webhook/webhook.yaml": WEBHOOK % "http://93.184.216.34"}
    result = await provider.execute(request("webhook", None, files=files))
    assert result.status == "succeeded", result.message
    [sent] = http.requests
    assert sent.url == "http://93.184.216.34/hooks/website"
    assert sent.headers["Authorization"] == "Bearer pager-secret-1"
    assert sent.content == b'{"service": "front-end", "context": "ctx-9", "action": "webhook"}'
    [record] = await box.store.find(DeliveryQuery())
    assert "pager-secret-1" not in str(record.public()) and "pager-secret-1" not in str(record.args)


async def test_webhook_action_deny_list() -> None:
    http = MemoryHttp()
    provider, _ = webhook_provider(http)
    for host in (
        "http://127.0.0.1:9",
        "http://169.254.169.254",
        "http://localhost",
        "http://[::1]",
    ):
        result = await provider.execute(
            request("webhook", None, files={"webhook/webhook.yaml": WEBHOOK % host})
        )
        assert result.status == "errored", host
    assert http.requests == []
    allowed, _ = webhook_provider(http, allow=["127.0.0.1/32"])
    ok = await allowed.execute(
        request("webhook", None, files={"webhook/webhook.yaml": WEBHOOK % "http://127.0.0.1:9"})
    )
    assert ok.status == "succeeded"


async def test_url_guard_schemes() -> None:
    with pytest.raises(BlockedUrl):
        await UrlGuard().check("file:///etc/passwd")


async def test_webhook_action_without_file_is_errored() -> None:
    provider, _ = webhook_provider(MemoryHttp())
    result = await provider.execute(request("webhook", None))
    assert result.status == "errored" and "webhook/webhook.yaml" in result.message


async def test_escalate_notifies_and_succeeds() -> None:
    got: list[Notification] = []

    async def broadcast(n: Notification) -> int:
        got.append(n)
        return 1

    provider = EscalateProvider(broadcast, ui_url="http://ui")
    result = await provider.execute(request("escalate", {"message": "call the CDN team"}))
    await provider.drain()
    assert result.status == "succeeded"
    [n] = got
    assert n.kind == "escalation" and "call the CDN team" in n.message
    assert n.problem is not None and n.problem.key == "P9"
    assert n.sequence_link == "http://ui/bridge/sequence/ctx-9"
