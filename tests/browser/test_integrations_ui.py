"""Headless Chromium on /deliveries: log in through the flags context's /login, find a dead
letter, press Retry, see it delivered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent
from selfheal.delivery import DeliveryQuery
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.standins import SinkStandIn, serve
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.conftest import require_tool
from tests.support.browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.external]

PASSWORD = "browser-test-password"
HOOK_KEY = "hook-key-secret-value-42"
YAML = """\
integrations:
  - name: ops-hook
    type: webhook
    config:
      url: {url}/hook
      events: ["sh.keptn.event.note.finished"]
      secret_headers: {{X-Api-Key: {{secret: hook-key}}}}
"""


async def test_dead_letter_retried_from_the_deliveries_page(
    settings: Settings, tmp_path: Path
) -> None:
    chromium = require_tool("chromium")
    async_api = pytest.importorskip("playwright.async_api")
    sink = SinkStandIn()
    sink.fail(2, status=503)  # both attempts fail: a dead letter; then the sink recovers
    async with serve(sink.app) as sink_url:
        path = tmp_path / "integrations.yaml"
        path.write_text(YAML.format(url=sink_url))
        s = settings.model_copy(
            update={
                "admin_password": SecretStr(PASSWORD),
                "integrations": IntegrationsSettings(
                    file=str(path),
                    secrets={"hook-key": SecretStr(HOOK_KEY)},
                    max_attempts=2,
                    backoff_seconds=0.0,
                ),
            }
        )
        c = await build(s, bus=MemoryBus())
        await c.start()
        try:
            await c.runtime.events.publish(
                CloudEvent(
                    type="sh.keptn.event.note.finished",
                    source="selfheal/test",
                    data={"project": "website"},
                    extensions={"shkeptncontext": "ctx-browser"},
                )
            )
            for _ in range(500):
                if await c.integrations.store.find(DeliveryQuery(status="dead")):
                    break
                await asyncio.sleep(0.01)
            [dead] = await c.integrations.store.find(DeliveryQuery(status="dead"))
            assert (dead.attempts, dead.http_status) == (2, 503)
            app = create_app(c, manage_lifecycle=False)
            async with serve(app) as url, async_api.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page()
                    await page.goto(url + "/deliveries")
                    assert "/login" in page.url
                    await page.fill("input[name=username]", "admin")
                    await page.fill("input[name=password]", PASSWORD)
                    await page.click("button[type=submit]")
                    await page.wait_for_url("**/deliveries")

                    await page.click('a.button:has-text("Dead letters")')
                    await page.wait_for_url("**/deliveries?status=dead")
                    rows = page.locator("tbody tr")
                    assert await rows.count() == 1
                    row = rows.first
                    text = await row.inner_text()
                    assert "ops-hook" in text and "dead" in text and "503" in text
                    assert HOOK_KEY not in await page.content()

                    await row.locator("button", has_text="Retry").click()
                    await page.wait_for_url("**/deliveries?status=dead")
                    assert "retried: succeeded" in await page.inner_text(".flash")
                    assert "No deliveries." in await page.inner_text("tbody")

                    await page.goto(url + "/deliveries?integration=ops-hook")
                    row = page.locator("tbody tr").first
                    text = await row.inner_text()
                    assert "succeeded" in text and "200" in text
                    assert await row.locator("button", has_text="Retry").count() == 0
                finally:
                    await browser.close()
            again = await c.integrations.store.get(dead.id)
            assert (again.status, again.attempts) == ("succeeded", 3)
        finally:
            await c.stop()
    assert [r.headers["x-api-key"] for r in sink.requests] == [HOOK_KEY] * 3
