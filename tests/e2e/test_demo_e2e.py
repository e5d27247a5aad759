"""The demo as a user runs it: real processes, real sockets, the real UnleashClient SDK."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from selfheal.core import pages
from tests.e2e.demorun import DemoRun

pytestmark = pytest.mark.slow

STEPS = ("problem_opened", "action_triggered", "flag_on", "first_cdn_response", "problem_resolved")
CAUSAL_ORDER = ("problem_opened", "action_triggered", "flag_on", "first_cdn_response")


def listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 0.5):
            return True
    except OSError:
        return False


def assert_causal(report: dict[str, Any]) -> None:
    """Issue 12.6: the servers' timestamps in the order the loop caused them."""
    assert report["valid"] is True and report["causal"] is True, report["invalid"]
    order = [report[step] for step in CAUSAL_ORDER]
    assert order[0] > 0, order
    assert order == sorted(order), dict(zip(CAUSAL_ORDER, order, strict=True))
    assert report["problem_opened"] < report["problem_resolved"]
    assert report["action_triggered"] <= report["sequence_finished"]
    reached = [row["seconds"] for row in report["timeline"] if row["seconds"] is not None]
    assert reached == sorted(reached)


def wait_fault_cleared(website: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{website}_fault", timeout=5).json()["rate"] == 0:
            return
        time.sleep(0.5)
    raise AssertionError("the fault did not clear after --fault-seconds")


def test_demo_closes_the_loop_and_cleans_up(tmp_path: Path) -> None:
    run = DemoRun(tmp_path, "--fault-seconds", "15")
    try:
        report = run.report(timeout=240)
        assert report["ok"] is True, (report.get("error"), report["checks"], report["invalid"])
        assert isinstance(report["fault_at"], float)
        for step in STEPS:
            assert isinstance(report[step], float), step
            assert 0 < report[step] < 150, (step, report[step])
        assert_causal(report)
        restored = report["flag_off"] is not None
        for key in ("fault_cleared", "origin_verified", "restore_started", "flag_off"):
            assert key in report
        assert report["time_to_mitigate"] == report["first_cdn_response"]
        assert report["settings"]["flags_mode"] in ("streaming", "polling")
        assert Path(report["files"]["report"]).exists()
        assert Path(report["files"]["plot"]).stat().st_size > 0

        urls, token = report["urls"], report["settings"]["admin_token"]
        # Issue 12.8: the problem's and the sequence's own pages, from the one link builder.
        problem_page = urls["platform"] + pages.problem(report["problem"]["problemId"])
        assert urls["problem"] == problem_page
        sequence_page = urls["platform"] + pages.sequence(report["sequence"]["shkeptncontext"])
        assert urls["sequence"] == sequence_page
        with httpx.Client(base_url=urls["platform"], timeout=10) as ui:
            login = {"username": "admin", "password": report["settings"]["admin_password"]}
            assert ui.post("/login", data=login).status_code == 303
            for url in (problem_page, sequence_page):
                page = ui.get(url)
                assert page.status_code == 200, url
                assert "/login" not in str(page.url)

        api = httpx.Client(base_url=urls["platform"], headers={"Authorization": token}, timeout=10)
        with api:
            flag = api.get("/api/admin/projects/default/features/EnableStaticContent").json()
            production = [e for e in flag["environments"] if e["name"] == "production"]
            assert production[0]["enabled"] is not restored

            problems = api.get("/api/v2/problems").json()["problems"]
            ours = [p for p in problems if p["problemId"] == report["problem"]["problemId"]]
            assert ours and ours[0]["status"] in ("CLOSED", "RESOLVED")
            comments = api.get(f"/api/v2/problems/{ours[0]['problemId']}/comments").json()
            texts = [c.get("content") or c.get("message") or "" for c in comments["comments"]]
            assert any("Keptn" in t or "featuretoggle" in t for t in texts), texts

            states = api.get("/api/controlPlane/v1/sequence/website").json()["states"]
            assert any(s.get("outcome") in ("remediated", "restored") for s in states)

        page = httpx.get(urls["website"], timeout=5)
        assert page.status_code == 200
        assert page.headers["x-served-by"] == ("app" if restored else "cdn")
        # The kill switch's probe constraint, evaluated by the real UnleashClient SDK: a probe
        # reaches the app while users get the CDN.
        probe = httpx.get(urls["website"], headers={"X-Selfheal-Probe": "true"}, timeout=5)
        assert probe.headers["x-served-by"] == "app"
        if report["fault_cleared"] is None:
            wait_fault_cleared(urls["website"], timeout=60)
    finally:
        code = run.interrupt()
    assert code == 130
    for name in ("platform", "website", "cdn"):
        assert not listening(report["urls"][name]), f"{name} still listening after Ctrl-C"
