"""Headless Chromium uses the bridge: log in, open a project and a sequence, read the timeline
and the outcome in words, pause, resume and abort a running remediation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.control.test_control_restart import (
    REMEDIATION,
    SHIPYARD,
    answer,
    b64,
    client,
    events,
    problem,
    wait_for,
)
from tests.support.browser import CHROMIUM_ARGS
from tests.support.server import selfheal_up

pytestmark = [pytest.mark.slow, pytest.mark.external]


def test_control_bridge_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with (
        selfheal_up(tmp_path, SELFHEAL_ADMIN_PASSWORD="bridge-password") as srv,
        client(srv) as http,
    ):
        assert http.post(
            "/api/controlPlane/v1/project",
            json={"projectName": "website", "shipyard": b64(SHIPYARD)},
        ).is_success
        assert http.post(
            "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
        ).is_success
        assert http.post(
            "/api/configuration-service/v1/project/website/resource",
            json={
                "resources": [
                    {"resourceURI": "remediation.yaml", "resourceContent": b64(REMEDIATION)}
                ]
            },
        ).is_success
        # one remediation that finishes (action 1 answered, the problem resolved meanwhile)
        assert http.post("/api/v1/event", json=problem("OPEN")).is_success
        done_ctx = wait_for(
            "the sequence",
            lambda: [
                s["shkeptncontext"] for s in http.get("/api/v1/sequences").json()["sequences"]
            ],
        )[0]
        first = wait_for(
            "action 1", lambda: events(http, done_ctx, "sh.keptn.event.action.triggered")
        )
        assert http.post("/api/v1/event", json=problem("RESOLVED")).is_success
        answer(http, done_ctx, first[0])
        wait_for(
            "remediated",
            lambda: http.get(f"/api/v1/sequences/{done_ctx}").json()["outcome"] == "remediated",
        )
        # and one that waits for its external action
        opened = problem("OPEN")
        opened["id"] = "problem-again"
        opened["data"] = {**opened["data"], "PID": "4712", "ProblemID": "P-4712"}
        assert http.post("/api/v1/event", json=opened).is_success
        running_ctx = wait_for(
            "the second sequence",
            lambda: [
                s["shkeptncontext"]
                for s in http.get("/api/v1/sequences", params={"state": "started"}).json()[
                    "sequences"
                ]
            ],
        )[0]
        wait_for("its action", lambda: events(http, running_ctx, "sh.keptn.event.action.triggered"))

        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(srv.url + "/bridge")
                assert "/login" in page.url
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", "bridge-password")
                page.click("button[type=submit]")
                page.wait_for_url("**/bridge")

                page.click("a[href='/bridge/project/website']")
                page.wait_for_url("**/bridge/project/website*")
                assert "front-end" in page.content()

                page.click(f"a[href='/bridge/sequence/{done_ctx}']")
                page.wait_for_url(f"**/bridge/sequence/{done_ctx}")
                outcome = page.locator("p.outcome").inner_text()
                assert outcome.startswith("Remediated: the evaluation passed after action 1 of 2")
                timeline = page.locator("ol.timeline").inner_text()
                for type_ in (
                    "sh.keptn.event.production.remediation.triggered",
                    "sh.keptn.event.get-action.finished",
                    "sh.keptn.event.action.triggered",
                    "sh.keptn.event.action.finished",
                    "sh.keptn.event.evaluation.finished",
                    "sh.keptn.event.production.remediation.finished",
                ):
                    assert type_ in timeline, type_
                assert "Keptn triggered action scale: one more replica" in timeline
                assert page.locator("button[value=pause]").count() == 0  # finished: no buttons
                tasks = page.locator("svg.sequence-chart g.task")
                assert tasks.count() == 3  # get-action, action, evaluation
                assert tasks.nth(1).get_attribute("data-result") == "pass"
                box = page.locator("svg.sequence-chart").bounding_box()
                assert box is not None and box["width"] > 300  # drawn, not just in the DOM

                page.goto(f"{srv.url}/bridge/sequence/{running_ctx}")
                assert "Keptn triggered action scale" in page.locator("ol.timeline").inner_text()
                page.click("button[value=pause]")
                page.wait_for_selector("button[value=resume]")
                assert "state paused" in page.content()
                assert http.get(f"/api/v1/sequences/{running_ctx}").json()["state"] == "paused"
                page.click("button[value=resume]")
                page.wait_for_selector("button[value=pause]")
                assert http.get(f"/api/v1/sequences/{running_ctx}").json()["state"] == "started"
                page.once("dialog", lambda d: d.accept())  # abort asks first
                page.click("button[value=abort]")
                page.wait_for_selector("p.outcome >> text=Aborted")
                assert page.locator("p.outcome").inner_text() == "Aborted: aborted by request"
                assert page.locator("button[value=abort]").count() == 0
                assert http.get(f"/api/v1/sequences/{running_ctx}").json()["outcome"] == "aborted"
            finally:
                browser.close()
