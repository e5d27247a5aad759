"""Durability for real: `selfheal up` killed with SIGKILL mid-sequence resumes on restart.

The action is `scale`, which no built-in provider handles, so the sequence waits for an
external provider's answer (sent here through the event API): a wait that needs no test-only
code in the product. The first action is answered before the kill, the second is in flight
when the process dies; after the restart the sequence still waits for the second, finishes
when it is answered, and the first is never triggered again.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import Server, selfheal_up

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: restart}
spec:
  stages:
    - name: production
      sequences:
        - name: remediation
          tasks:
            - name: get-action
            - name: action
            - name: evaluation
"""
REMEDIATION = """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: restart}
spec:
  remediations:
    - problemType: default
      actionsOnOpen:
        - {name: Scale up, action: scale, description: one more replica, value: "2"}
        - {name: Scale more, action: scale, description: two more replicas, value: "3"}
"""
SCOPE = {"project": "website", "stage": "production", "service": "front-end"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"x-token": server.admin_token}, timeout=10)


def wait_for(what: str, probe: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def events(http: httpx.Client, context: str, type_: str) -> list[dict[str, Any]]:
    r = http.get("/api/v1/events", params={"keptnContext": context, "type": type_, "pageSize": 100})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["events"]))


def answer(http: httpx.Client, context: str, triggered: dict[str, Any]) -> None:
    for phase, extra in (("started", {}), ("finished", {"status": "succeeded", "result": "pass"})):
        r = http.post(
            "/api/v1/event",
            json={
                "specversion": "1.0",
                "id": f"{triggered['id']}-{phase}",
                "type": f"sh.keptn.event.action.{phase}",
                "source": "scaler",
                "shkeptncontext": context,
                "triggeredid": triggered["id"],
                "data": {**SCOPE, **extra},
            },
        )
        assert r.status_code == 200, r.text


def problem(state: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"problem-{state}",
        "type": "sh.keptn.events.problem",
        "source": "dynatrace",
        "data": {
            "State": state,
            "PID": "4711",
            "ProblemID": "P-4711",
            "ProblemTitle": "Failure rate increase",
            "Tags": "keptn_project:website, keptn_stage:production, keptn_service:front-end",
        },
    }


def test_control_sigkill_mid_sequence_resumes_without_repeating(tmp_path: Path) -> None:
    with selfheal_up(tmp_path) as server, client(server) as http:
        r = http.post(
            "/api/controlPlane/v1/project",
            json={"projectName": "website", "shipyard": b64(SHIPYARD)},
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
            json={
                "resources": [
                    {"resourceURI": "remediation.yaml", "resourceContent": b64(REMEDIATION)}
                ]
            },
        )
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/event", json=problem("OPEN"))
        assert r.status_code == 200, r.text
        context = wait_for(
            "the sequence",
            lambda: [
                s["shkeptncontext"] for s in http.get("/api/v1/sequences").json()["sequences"]
            ],
        )[0]
        first = wait_for(
            "action 1", lambda: events(http, context, "sh.keptn.event.action.triggered")
        )[0]
        answer(http, context, first)
        # the evaluation fails (the problem is still open): action 2 goes out, nobody answers
        triggered = wait_for(
            "action 2",
            lambda: (e := events(http, context, "sh.keptn.event.action.triggered"))[1:] and e,
        )
        second = triggered[1]
        assert second["data"]["action"]["name"] == "Scale more"
        server.process.kill()  # SIGKILL: no shutdown hooks run
        server.process.wait(timeout=10)

    with selfheal_up(tmp_path) as server, client(server) as http:
        seq = http.get(f"/api/v1/sequences/{context}").json()
        assert seq["state"] == "started", seq
        # resumed: still waiting for action 2; action 1 was not triggered again
        triggered = events(http, context, "sh.keptn.event.action.triggered")
        assert [e["id"] for e in triggered] == [first["id"], second["id"]]
        r = http.post("/api/v1/event", json=problem("RESOLVED"))
        assert r.status_code == 200, r.text
        answer(http, context, second)
        done = wait_for(
            "the outcome",
            lambda: (
                (s := http.get(f"/api/v1/sequences/{context}").json())["state"] == "finished" and s
            ),
        )
        assert done["outcome"] == "remediated", done
        assert "action 2 of 2" in done["message"]
        assert len(events(http, context, "sh.keptn.event.action.triggered")) == 2
        assert len(events(http, context, "sh.keptn.event.action.finished")) == 2
        finished = events(http, context, "sh.keptn.event.production.remediation.finished")
        assert len(finished) == 1 and finished[0]["data"]["outcome"] == "remediated"
