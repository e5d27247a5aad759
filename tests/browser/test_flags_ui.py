"""Headless Chromium uses the flags console: log in, search, flip, edit a strategy, see the
history and metrics, create a token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from selfheal.core import utc_now_iso
from tests.conftest import require_tool
from tests.support.browser import CHROMIUM_ARGS
from tests.support.server import selfheal_up

pytestmark = [pytest.mark.slow, pytest.mark.external]

BASE = "/api/admin/projects/default/features"


def test_flags_console_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with selfheal_up(tmp_path) as srv:
        admin = {"Authorization": srv.admin_token}
        for name in ("EnableStaticContent", "NewCheckout"):
            assert httpx.post(srv.url + BASE, json={"name": name}, headers=admin).status_code == 201
        metrics = {
            "appName": "website",
            "instanceId": "i1",
            "bucket": {
                "start": utc_now_iso(),
                "stop": utc_now_iso(),
                "toggles": {"EnableStaticContent": {"yes": 7, "no": 3}},
            },
        }
        r = httpx.post(
            srv.url + "/api/client/metrics",
            json=metrics,
            headers={"Authorization": srv.client_token},
        )
        assert r.status_code == 202
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(srv.url + "/flags")
                assert "/login" in page.url
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", "wrong")
                page.click("button[type=submit]")
                assert "wrong user name or password" in page.content()
                page.fill("input[name=password]", "test-password")
                page.click("button[type=submit]")
                page.wait_for_url("**/flags")

                page.fill("input[name=q]", "static")
                page.click("text=Search")
                rows = page.locator("#flags tbody tr")
                assert rows.count() == 1 and "EnableStaticContent" in rows.inner_text()

                page.once("dialog", lambda d: d.accept())  # flipping asks first
                page.click("tr[data-flag=EnableStaticContent] button[data-env=production]")
                page.wait_for_load_state()
                state = httpx.get(f"{srv.url}{BASE}/EnableStaticContent", headers=admin).json()
                prod = next(e for e in state["environments"] if e["name"] == "production")
                assert prod["enabled"] is True
                assert (
                    page.locator(
                        "tr[data-flag=EnableStaticContent] button[data-env=production]"
                    ).inner_text()
                    == "on"
                )

                page.click("text=EnableStaticContent")
                page.locator("#env-production details.add-strategy > summary").click()
                form = page.locator("#env-production form.new-strategy")
                form.locator("details.json-view summary").click()  # the JSON view
                form.locator("textarea[name=constraints]").fill(
                    '[{"contextName": "userId", "operator": "IN", "values": ["u1"]}]'
                )
                form.locator("button:has-text('Save the JSON')").click()
                page.wait_for_load_state()
                assert "strategy saved" in page.content()
                strategies = httpx.get(
                    f"{srv.url}{BASE}/EnableStaticContent/environments/production/strategies",
                    headers=admin,
                ).json()
                assert strategies[0]["name"] == "flexibleRollout"
                assert strategies[0]["constraints"][0]["values"] == ["u1"]

                bad = page.locator("#env-production form.strategy").first
                bad.locator("details.json-view summary").click()
                bad.locator("textarea[name=constraints]").fill(
                    '[{"contextName": "x", "operator": "LIKE"}]'
                )
                bad.locator("button:has-text('Save the JSON')").click()
                page.wait_for_load_state()
                assert "unknown operator" in page.locator("[role=alert]").inner_text()

                history = page.locator("#history").inner_text()
                assert "strategy add" in history and "turned on" in history
                assert "user:admin" in history
                metrics_text = page.locator("#metrics").inner_text()
                assert "website" in metrics_text and "7" in metrics_text

                variants = page.locator("#env-production form.variants-form")
                page.locator("#env-production details.variants > summary").click()
                variants.locator("details.json-view summary").click()
                variants.locator("textarea[name=variants]").fill('[{"name": "blue"}]')
                variants.locator("button:has-text('Save the JSON')").click()
                page.wait_for_load_state()
                assert "variants of production saved" in page.content()
                assert "Variants (1)" in page.locator("#env-production").inner_text()

                page.goto(srv.url + "/flags/segments")
                page.fill("#new-segment input[name=name]", "beta users")
                page.click("#new-segment button[type=submit]")
                page.wait_for_load_state()
                assert "segment beta users saved" in page.content()
                assert "beta users" in page.locator("#segments").inner_text()
                segs = httpx.get(srv.url + "/api/admin/segments", headers=admin).json()
                assert [s["name"] for s in segs["segments"]] == ["beta users"]

                page.goto(srv.url + "/flags/tokens")
                page.fill("input[name=tokenName]", "ui-token")
                page.click("text=Create")
                secret = page.locator("#new-secret code").inner_text()
                assert secret.startswith("*:production.")
                r = httpx.get(srv.url + "/api/client/features", headers={"Authorization": secret})
                assert r.status_code == 200

                page.click("header form[action='/logout'] button")
                page.wait_for_url("**/login")
                page.goto(srv.url + "/flags")
                assert "/login" in page.url
            finally:
                browser.close()
