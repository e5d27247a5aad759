"""Headless Chromium on the incident console after the demo's real incident: the problem page
says what happened in words, its timeline links the sequence and the flag change, a click goes
problem → sequence → flag → back to the sequence and the problem; a flip made elsewhere shows
on an open page without a reload; flipping asks first and says the consequence; the archive
revives; the session rules hold. Writes the screenshots of docs/ui.md (docs/img/ui-*.png)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_tool
from tests.e2e.demorun import DemoRun
from tests.support.browser import CHROMIUM_ARGS
from tests.support.paths import REPO

pytestmark = [pytest.mark.slow, pytest.mark.external]

IMG = REPO / "docs" / "img"
FLAG = "EnableStaticContent"


def shot(page: Any, name: str) -> None:
    """A small screenshot for docs/ui.md (viewport only, JPEG-free PNG at 1000 px)."""
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / f"ui-{name}.png"), full_page=False)


def login(page: Any, base: str, user: str, password: str, target: str) -> None:
    page.goto(base + "/login?next=" + target)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def test_incident_console_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    run = DemoRun(tmp_path, "--baseline", "10")
    try:
        report = run.report(timeout=240)
        assert report["ok"] is True, (report.get("error"), report["checks"])
        base = report["urls"]["platform"].rstrip("/")
        password = report["settings"]["admin_password"]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 760})
                login(page, base, "admin", password, "/problems")
                page.wait_for_url("**/problems")
                page.locator("#problem-list a[href^='/problems/']").first.click()
                page.wait_for_load_state()
                problem_url = page.url

                # the state in words, the evidence in words, the timeline with its links
                state = page.locator("#state").inner_text()
                assert "Failure rate increase" in state and FLAG in state, state
                assert "turned on" in state and "remediation" in state, state
                timeline = page.locator("#timeline").inner_text()
                assert "requests failed in" in timeline, timeline
                assert "Flag EnableStaticContent in production: turned on" in timeline
                kinds = page.locator("#timeline li .kind").all_inner_texts()
                assert kinds[0] == "detected" and "resolved" in kinds and "flag" in kinds
                time_el = page.locator("#timeline time").first
                assert time_el.get_attribute("title").endswith("UTC")  # UTC on hover
                assert time_el.get_attribute("data-local") == "1"  # local time shown
                assert page.locator("svg.chart line.threshold").count() == 1
                assert page.locator(".legend .key-flag").count() == 1
                shot(page, "problem-after")

                # problem → sequence → flag → sequence → problem, by clicks
                page.locator("#related a.sequence-link").first.click()
                page.wait_for_url("**/bridge/sequence/**")
                sequence_url = page.url
                shot(page, "sequence")
                page.locator("#related a.flag-link").first.click()
                page.wait_for_url(f"**/flags/default/{FLAG}**")
                history = page.locator("#history")
                assert "turned on" in history.inner_text()
                shot(page, "flag")
                history.locator("a.actor").first.click()
                page.wait_for_url(sequence_url)
                page.locator("#related a.problem-link").click()
                page.wait_for_url("**/problems/**")  # by its PID: the same problem's page
                assert page.locator("#state").inner_text() == state
                assert problem_url.rsplit("/", 1)[0] in page.url

                # live: a flip made through the API shows on the open flag list
                page.goto(base + "/flags")
                expect = sync_api.expect  # polls without eval (the CSP forbids it)
                expect(page.locator("body")).to_have_attribute("data-live", "on", timeout=10_000)
                switch = page.locator(f"tr[data-flag={FLAG}] button[data-env=development]")
                assert switch.inner_text() == "off"
                r = httpx.post(
                    f"{base}/api/admin/projects/default/features/{FLAG}/environments/development/on",
                    headers={"Authorization": report["settings"]["admin_token"]},
                )
                assert r.status_code == 200, r.text
                expect(switch).to_have_text("on", timeout=10_000)  # no reload
                assert int(page.locator("body").get_attribute("data-refreshed") or 0) >= 1

                # a flip asks first and says what it does; dismissing changes nothing
                prod = page.locator(f"tr[data-flag={FLAG}] button[data-env=production]")
                assert prod.get_attribute("role") == "switch"
                asked: list[str] = []

                def dismiss(dialog: Any) -> None:
                    asked.append(dialog.message)
                    dialog.dismiss()

                page.once("dialog", dismiss)
                prod.click()
                time.sleep(0.5)
                # the demo restored the origin, so the switch is off again: confirming turns it on
                assert asked and "Turn EnableStaticContent on in production" in asked[0]
                assert "poll interval" in asked[0]
                assert prod.inner_text() == "off"  # dismissed: unchanged

                # the archive lists an archived flag and revives it
                page.goto(base + f"/flags/default/{FLAG}")
                page.once("dialog", lambda d: d.accept())
                page.click("button:has-text('Archive')")
                page.wait_for_load_state()
                page.goto(base + "/flags/archive")
                row = page.locator(f"#archived tr[data-flag={FLAG}]")
                assert row.count() == 1
                page.once("dialog", lambda d: d.accept())
                row.locator("button:has-text('Revive')").click()
                page.wait_for_load_state()
                assert "flag revived" in page.content()

                # headers and the session: no framing, own scripts only, logout ends it
                response = page.goto(base + "/flags")
                assert response is not None
                headers = response.headers
                assert headers["x-frame-options"] == "DENY"
                assert "frame-ancestors 'none'" in headers["content-security-policy"]
                assert headers["cache-control"] == "no-store"
                cookie = next(c for c in page.context.cookies() if c["name"] == "selfheal_session")
                page.click("header form[action='/logout'] button")
                page.wait_for_url("**/login")
                stolen = httpx.get(
                    base + "/flags",
                    cookies={"selfheal_session": cookie["value"]},
                    follow_redirects=False,
                )
                assert stolen.status_code == 303 and "/login" in stolen.headers["location"]
            finally:
                browser.close()
    finally:
        run.interrupt()
