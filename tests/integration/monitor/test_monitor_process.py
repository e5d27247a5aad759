"""`selfheal up` as a child process scraping a real endpoint: the CLI against it, and a
restart of the process with an open problem."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.monitor.targets import FlakyApp, Receiver, serve
from tests.support.server import Server, selfheal_up

pytestmark = [pytest.mark.slow]


def monitor_yaml(path: Path, target: str) -> Path:
    path.write_text(
        f"""services:
  - name: front-end
    tags: {{keptn_project: website, keptn_stage: production, keptn_service: front-end}}
    source:
      scrape: {{url: "{target}/metrics", interval: 0.2}}
"""
    )
    return path


def cli(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "selfheal"
    return subprocess.run(
        [str(exe), *args, "--url", srv.url, "--token", srv.admin_token],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def eventually(what: str, check: Callable[[], Any], seconds: float = 30) -> Any:
    """Poll `check` until it returns something truthy (bounded; fails naming `what`)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.2)


def api(srv: Server, path: str, **params: str) -> Any:
    r = httpx.get(srv.url + path, params=params, headers={"Authorization": srv.admin_token})
    assert r.status_code == 200, r.text
    return r.json()


def test_monitor_cli_against_selfheal_up(tmp_path: Path) -> None:
    app = FlakyApp()
    with serve(app) as target, selfheal_up(tmp_path) as srv:
        applied = cli(srv, "monitor", "apply", "-f", str(monitor_yaml(tmp_path / "m.yaml", target)))
        assert applied.returncode == 0 and "applied: front-end" in applied.stdout, applied.stderr
        bad = tmp_path / "bad.yaml"
        bad.write_text("services:\n  - name: x\n    source: {scrape: {url: ftp://nope}}\n")
        refused = cli(srv, "monitor", "apply", "-f", str(bad))
        assert refused.returncode == 1 and "must be an http(s) URL" in refused.stderr

        def status_ok() -> str | None:
            out = cli(srv, "monitor", "status").stdout
            return out if "front-end" in out and " ok " in out else None

        line = eventually("the service is scraped", status_ok)
        assert f"scrape {target}/metrics" in line and "PROBLEM OPEN" not in line
        app.error_share = 0.5

        def open_problem() -> str | None:
            out = cli(srv, "problems", "list", "--status", "OPEN").stdout
            return next((x for x in out.splitlines() if "Failure rate increase" in x), None)

        row = eventually("a problem opens", open_problem)
        display_id = row.split()[0]
        assert display_id.startswith("P-") and "OPEN" in row and "[front-end]" in row
        assert "PROBLEM OPEN" in cli(srv, "monitor", "status").stdout
        said = cli(srv, "problems", "comment", display_id, "looked at it", "--context", "oncall")
        assert said.returncode == 0 and "comment added" in said.stdout
        listed = json.loads(cli(srv, "problems", "list", "--json").stdout)
        (problem,) = listed["problems"]
        comments = api(srv, f"/api/v2/problems/{problem['problemId']}/comments")["comments"]
        assert {"content": "looked at it", "context": "oncall"}.items() <= next(
            c for c in comments if c["context"] == "oncall"
        ).items()
        missing = cli(srv, "problems", "comment", "P-999", "hello")
        assert missing.returncode == 1 and "404" in missing.stderr


def test_monitor_restart_keeps_problems_and_resolves_once(tmp_path: Path) -> None:
    app, receiver = FlakyApp(error_share=0.5), Receiver()
    with serve(app, receiver) as target:
        env = {
            "SELFHEAL_MONITOR__HOLD_SECONDS": "1",
            "SELFHEAL_MONITOR__WEBHOOKS": json.dumps([{"url": f"{target}/hook"}]),
        }
        with selfheal_up(tmp_path, **env) as srv:
            yaml_file = monitor_yaml(tmp_path / "m.yaml", target)
            assert cli(srv, "monitor", "apply", "-f", str(yaml_file)).returncode == 0
            problem = eventually(
                "a problem opens",
                lambda: next(iter(api(srv, "/api/v2/problems", status="OPEN")["problems"]), None),
            )
            pid = problem["pid"]
            cli(srv, "problems", "comment", pid, "before the restart")
            eventually("the OPEN webhook", lambda: receiver.states(pid))
        app.error_share = 0.0  # healthy while the process is down and after
        with selfheal_up(tmp_path, **env) as srv:
            got = eventually(
                "the problem resolves after the restart",
                lambda: (p := api(srv, f"/api/v2/problems/{pid}"))["status"] == "CLOSED" and p,
            )
            assert (got["state"], got["occurrence"]) == ("RESOLVED", 1)
            assert got["displayId"] == problem["displayId"]
            assert got["startTime"] == problem["startTime"] and got["endTime"] > 0
            contents = [c["content"] for c in got["recentComments"]["comments"]]
            assert "before the restart" in contents
            assert api(srv, "/api/v2/problems")["totalCount"] == 1
            eventually("the RESOLVED webhook", lambda: "RESOLVED" in receiver.states(pid))
            assert receiver.states(pid) == ["OPEN", "RESOLVED"]
