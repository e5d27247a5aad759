"""Headless Chromium on the problems UI of `selfheal up`: log in, open a detected problem,
see its chart (with open and comment markers) and comments, and comment through the form."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_tool
from tests.integration.monitor.targets import FlakyApp, serve
from tests.support.browser import CHROMIUM_ARGS
from tests.support.server import selfheal_up

pytestmark = [pytest.mark.slow, pytest.mark.external]


def test_monitor_problem_page_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    app = FlakyApp()
    with serve(app) as target, selfheal_up(tmp_path) as srv:
        admin = {"Authorization": srv.admin_token}
        service = {
            "name": "front-end",
            "tags": {"keptn_service": "front-end"},
            "source": {"scrape": {"url": f"{target}/metrics", "interval": 0.2}},
        }
        r = httpx.post(f"{srv.url}/api/v1/monitor/services", json=service, headers=admin)
        assert r.status_code == 200, r.text
        for _ in range(150):  # some healthy history first, so the chart has a line (bounded)
            status = httpx.get(f"{srv.url}/api/v1/monitor/services", headers=admin).json()
            if status["services"][0]["points"] >= 5:
                break
            time.sleep(0.2)
        app.error_share = 0.5
        problem = None
        for _ in range(150):  # bounded: 30 s
            found = httpx.get(f"{srv.url}/api/v2/problems", headers=admin).json()["problems"]
            if found:
                problem = found[0]
                break
            time.sleep(0.2)
        assert problem is not None, "no problem opened"
        r = httpx.post(
            f"{srv.url}/api/v2/problems/{problem['problemId']}/comments",
            json={"message": "Keptn triggered the toggle", "context": "keptn"},
            headers=admin,
        )
        assert r.status_code == 201

        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(srv.url + "/problems")
                assert "/login" in page.url
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", "test-password")
                page.click("button[type=submit]")
                page.wait_for_url("**/problems")
                row = page.locator(f"#problem-list a[href='/problems/{problem['problemId']}']")
                assert row.inner_text() == problem["displayId"]
                assert "Failure rate increase" in page.locator("table.list").first.inner_text()

                row.click()
                page.wait_for_url(f"**/problems/{problem['problemId']}")
                assert problem["displayId"] in page.locator("h1").inner_text()
                chart = page.locator("svg.chart")
                assert chart.count() == 1 and chart.is_visible()
                assert chart.locator("polyline").count() >= 1
                assert chart.locator("line.marker-open").count() == 1
                assert chart.locator("line.marker-comment").count() >= 1
                comments = page.locator("ul.comments")
                assert "Keptn triggered the toggle" in comments.inner_text()

                page.fill("textarea[name=message]", "Looking into it from the browser")
                page.click("form[action$='/comments'] button[type=submit]")
                page.wait_for_url(f"**/problems/{problem['problemId']}#comments")
                assert "Looking into it from the browser" in comments.inner_text()
                assert page.locator("line.marker-comment").count() >= 2
            finally:
                browser.close()
        stored = httpx.get(
            f"{srv.url}/api/v2/problems/{problem['problemId']}/comments", headers=admin
        ).json()["comments"]
        mine = [c for c in stored if c["content"] == "Looking into it from the browser"]
        assert [(c["authorName"], c["context"]) for c in mine] == [("admin", "ui")]
