"""Headless Chromium edits a flag with the console's forms, as in Unleash's UI: a segment
from constraint rows, a strategy with a constraint picked from the operator list and a
segment ticked, variants with a fixed and a variable weight — and the Unleash client API
then serves exactly that to an SDK. A bad weight is a form error naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_tool
from tests.support.browser import CHROMIUM_ARGS
from tests.support.server import selfheal_up

pytestmark = [pytest.mark.slow, pytest.mark.external]

BASE = "/api/admin/projects/default/features"
FLAG = "checkout"


def served(url: str, token: str) -> dict[str, Any]:
    """What an SDK that knows segments (client spec 5) gets from the client API."""
    r = httpx.get(
        url + "/api/client/features",
        headers={"Authorization": token, "Unleash-Client-Spec": "5.1.0"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_constraint_segment_and_variant_forms_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with selfheal_up(tmp_path) as srv:
        admin = {"Authorization": srv.admin_token}
        assert httpx.post(srv.url + BASE, json={"name": FLAG}, headers=admin).status_code == 201
        on = f"{srv.url}{BASE}/{FLAG}/environments/production/on"
        assert httpx.post(on, headers=admin).status_code == 200
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(srv.url + "/login?next=/flags/segments")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", "test-password")
                page.click("form[action='/login'] button[type=submit]")
                page.wait_for_url("**/flags/segments")

                # a segment from a constraint row
                new = page.locator("#new-segment")
                new.locator("input[name=name]").fill("beta")
                new.locator("input[name=c1-contextName]").fill("userId")
                new.locator("select[name=c1-operator]").select_option("IN")
                new.locator("textarea[name=c1-values]").fill("alice\nbob")
                new.locator("button:has-text('Create')").click()
                page.wait_for_load_state()
                assert "segment beta saved" in page.content()

                # a strategy with a constraint from the operator picker and the segment ticked
                page.goto(f"{srv.url}/flags/default/{FLAG}")
                env = page.locator("#env-production")
                env.locator("details.add-strategy > summary").click()
                form = env.locator("form.new-strategy")
                form.locator("input[name=c1-contextName]").fill("country")
                form.locator("select[name=c1-operator]").select_option("STR_STARTS_WITH")
                form.locator("textarea[name=c1-values]").fill("DE")
                form.locator("input[name=c1-caseInsensitive]").check()
                form.locator("label.segment-choice:has-text('beta') input").check()
                form.locator("button:has-text('Add')").click()
                page.wait_for_load_state()
                assert "strategy saved" in page.content()

                # variants: one variable, then a fixed 30 % with a payload
                env = page.locator("#env-production")
                env.locator("details.variants > summary").click()
                variants = env.locator("form.variants-form")
                variants.locator("input[name=v1-name]").fill("control")
                variants.locator("button:has-text('Save variants')").click()
                page.wait_for_load_state()
                assert "variants of production saved" in page.content()
                variants = page.locator("#env-production form.variants-form")
                assert variants.locator("input[name=v1-weight]").input_value() == "100"
                variants.locator("input[name=v2-name]").fill("blue")
                variants.locator("input[name=v2-fixed]").check()
                variants.locator("input[name=v2-weight]").fill("30")
                variants.locator("input[name=v2-stickiness]").fill("userId")
                variants.locator("select[name=v2-payloadType]").select_option("string")
                variants.locator("textarea[name=v2-payloadValue]").fill("sky")
                variants.locator("button:has-text('Save variants')").click()
                page.wait_for_load_state()
                assert "variants of production saved" in page.content()

                # what an SDK sees
                body = served(srv.url, srv.client_token)
                feature = next(f for f in body["features"] if f["name"] == FLAG)
                [strategy] = feature["strategies"]
                [constraint] = strategy["constraints"]
                assert constraint["contextName"] == "country"
                assert constraint["operator"] == "STR_STARTS_WITH"
                assert constraint["values"] == ["DE"] and constraint["caseInsensitive"] is True
                [segment] = body["segments"]
                assert strategy["segments"] == [segment["id"]]
                assert segment["constraints"][0]["values"] == ["alice", "bob"]
                weights = {v["name"]: (v["weight"], v["weightType"]) for v in feature["variants"]}
                assert weights == {"control": (700, "variable"), "blue": (300, "fix")}
                blue = next(v for v in feature["variants"] if v["name"] == "blue")
                assert blue["stickiness"] == "userId"
                assert blue["payload"] == {"type": "string", "value": "sky"}

                # a weight over 100 % is a form error naming the field; nothing changes
                variants = page.locator("#env-production form.variants-form")
                variants.locator("input[name=v2-weight]").fill("130")
                variants.locator("button:has-text('Save variants')").click()
                page.wait_for_load_state()
                alert = page.locator("[role=alert]").inner_text()
                assert "variant 2 weight" in alert and "between 0 and 100" in alert, alert
                after = served(srv.url, srv.client_token)
                feature = next(f for f in after["features"] if f["name"] == FLAG)
                assert {v["name"]: v["weight"] for v in feature["variants"]} == {
                    "control": 700,
                    "blue": 300,
                }
            finally:
                browser.close()
