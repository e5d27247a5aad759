"""The demo as a user runs it: real processes, real sockets, the real UnleashClient SDK."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.demorun import DemoRun

pytestmark = pytest.mark.slow

STEPS = ("problem_opened", "action_triggered", "flag_on", "first_cdn_response", "problem_resolved")


def listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 0.5):
            return True
    except OSError:
        return False


def test_demo_closes_the_loop_and_cleans_up(tmp_path: Path) -> None:
    run = DemoRun(tmp_path)
    try:
        report = run.report(timeout=150)
        assert report["ok"] is True, (report.get("error"), report["checks"])
        assert isinstance(report["fault_at"], float)
        for step in STEPS:
            assert isinstance(report[step], float), step
            assert 0 < report[step] < 60, (step, report[step])
        assert report["problem_opened"] < report["problem_resolved"]
        assert report["settings"]["flags_mode"] in ("streaming", "polling")
        assert Path(report["files"]["report"]).exists()
        assert Path(report["files"]["plot"]).stat().st_size > 0

        urls, token = report["urls"], report["settings"]["admin_token"]
        api = httpx.Client(base_url=urls["platform"], headers={"Authorization": token}, timeout=10)
        with api:
            flag = api.get("/api/admin/projects/default/features/EnableStaticContent").json()
            production = [e for e in flag["environments"] if e["name"] == "production"]
            assert production[0]["enabled"] is True

            problems = api.get("/api/v2/problems").json()["problems"]
            ours = [p for p in problems if p["problemId"] == report["problem"]["problemId"]]
            assert ours and ours[0]["status"] in ("CLOSED", "RESOLVED")
            comments = api.get(f"/api/v2/problems/{ours[0]['problemId']}/comments").json()
            texts = [c.get("content") or c.get("message") or "" for c in comments["comments"]]
            assert any("Keptn" in t or "featuretoggle" in t for t in texts), texts

            states = api.get("/api/controlPlane/v1/sequence/website").json()["states"]
            assert any(s.get("outcome") == "remediated" for s in states)

        page = httpx.get(urls["website"], timeout=5)
        assert page.status_code == 200
        assert page.headers["x-served-by"] == "cdn"
    finally:
        code = run.interrupt()
    assert code == 130
    for name in ("platform", "website", "cdn"):
        assert not listening(report["urls"][name]), f"{name} still listening after Ctrl-C"
