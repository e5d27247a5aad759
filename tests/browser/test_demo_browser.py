"""Headless Chromium watches the demo website turn from blue to green while the demo runs,
then finds the remediation sequence with outcome "restored" in the bridge UI (the demo's fault
clears and selfheal brings traffic back)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.e2e.demorun import DemoRun
from tests.support.browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.external]

BLUE = "rgb(26, 95, 180)"
GREEN = "rgb(30, 142, 62)"


def banner(page: Any) -> tuple[str, str, str]:
    el = page.locator("#banner")
    served_by = el.get_attribute("data-served-by") or ""
    color = el.evaluate("e => getComputedStyle(e).backgroundColor")
    return served_by, str(color), el.inner_text()


def test_banner_turns_green_and_the_bridge_shows_remediated(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    run = DemoRun(tmp_path, "--baseline", "10")
    try:
        line = run.stderr_line("website up at", timeout=90)
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        website = match.group(0) + "/"
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                seen: list[tuple[str, str, str]] = []
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    response = page.goto(website)
                    if response is not None and response.ok:
                        seen.append(banner(page))
                        if seen[-1][0] == "cdn":
                            break
                    time.sleep(0.3)
                assert seen, "the website never answered 200"
                assert seen[0][:2] == ("app", BLUE), seen[0]
                assert "served from the app" in seen[0][2]
                assert seen[-1][:2] == ("cdn", GREEN), seen[-1]
                assert "served from the CDN" in seen[-1][2]

                report = run.report(timeout=120)
                assert report["ok"] is True, (report.get("error"), report["checks"])
                page.goto(report["urls"]["sequences"])
                if "/login" in page.url:
                    page.fill("input[name=username]", "admin")
                    page.fill("input[type=password]", report["settings"]["admin_password"])
                    page.locator("button[type=submit], input[type=submit]").first.click()
                    page.wait_for_load_state()
                    if "/login" in page.url or "sequence" not in page.url:
                        page.goto(report["urls"]["sequences"])
                found = False
                for _ in range(20):
                    if page.get_by_text("restored").count() > 0:
                        found = True
                        break
                    time.sleep(0.5)
                    page.reload()
                assert found, page.content()[:2000]
            finally:
                browser.close()
    finally:
        run.interrupt()
