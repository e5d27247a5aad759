"""Projects, services, resources (versioned, validated), event queries, the bridge pages."""

from __future__ import annotations

import base64
import re

from tests.unit.control.conftest import SEED, Harness, b64, seed_problem

RES = "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource"


async def test_control_api_requires_admin_token(harness: Harness) -> None:
    r = await harness.http.get("/api/v1/events", headers={"x-token": "nope"})
    assert r.status_code == 401
    r = await harness.http.get(
        "/api/v1/events", headers={"x-token": "", "Authorization": "Bearer *:*.admin-secret"}
    )
    assert r.status_code == 200


async def test_control_invalid_resource_names_line_and_field_and_changes_nothing(
    harness: Harness,
) -> None:
    await harness.setup_website()
    bad = "apiVersion: spec.keptn.sh/0.1.4\nkind: Remediation\nspec:\n  remediations:\n    - actionsOnOpen: []\n"
    good = (SEED / "formats" / "slo.yaml").read_text()
    r = await harness.http.post(
        RES,
        json={
            "resources": [
                {"resourceURI": "slo.yaml", "resourceContent": b64(good)},
                {"resourceURI": "remediation.yaml", "resourceContent": b64(bad)},
            ]
        },
    )
    assert r.status_code == 400
    body = r.json()
    assert body["line"] == 5 and "problemType" in body["field"]
    r = await harness.http.get(RES + "/slo.yaml")
    assert r.status_code == 404  # the valid file of the batch was not stored either
    r = await harness.http.post(
        RES, json={"resources": [{"resourceURI": "x.yaml", "resourceContent": "%%%"}]}
    )
    assert r.status_code == 400 and r.json()["field"] == "resources[0].resourceContent"
    r = await harness.http.post(
        "/api/controlPlane/v1/project",
        json={"projectName": "Bad_Name", "shipyard": b64("stages: []")},
    )
    assert r.status_code == 400 and r.json()["field"] == "projectName"
    r = await harness.http.post("/api/controlPlane/v1/project", json={"projectName": "x"})
    assert r.status_code == 400 and r.json()["field"] == "shipyard"
    r = await harness.http.post(
        "/api/controlPlane/v1/project",
        json={
            "projectName": "other",
            "shipyard": b64("stages:\n  - name: prod\n    remediation_strategy: sometimes\n"),
        },
    )
    assert r.status_code == 400 and r.json()["line"] == 3
    listed = (await harness.http.get("/api/controlPlane/v1/project")).json()
    assert [p["projectName"] for p in listed["projects"]] == ["website"]


async def test_control_resources_are_versioned_and_sequences_keep_their_revision(
    harness: Harness,
) -> None:
    await harness.setup_website()
    context = await harness.send(seed_problem())
    seq = await harness.service.get_sequence(context)
    newer = "remediations:\n- name: Failure\n  actions:\n  - action: featuretoggle\n    value: Other:on\n"
    r = await harness.http.post(
        RES,
        json={"resources": [{"resourceURI": "remediation.yaml", "resourceContent": b64(newer)}]},
    )
    assert r.status_code == 201
    revision = int(r.json()["commitID"])
    assert revision > seq.revision
    latest = (await harness.http.get(RES + "/remediation.yaml")).json()
    assert base64.b64decode(latest["resourceContent"]).decode() == newer
    old = await harness.service.get_resource(
        "website", "production", "front-end", "remediation.yaml", seq.revision
    )
    assert old == (SEED / "remediations.yaml").read_text()
    listing = (await harness.http.get(RES)).json()
    assert [x["resourceURI"] for x in listing["resources"]] == ["remediation.yaml"]


async def test_control_event_queries_newest_first_and_paginated(harness: Harness) -> None:
    await harness.setup_website()
    context = await harness.send(seed_problem())
    r = await harness.http.get("/api/v1/events", params={"keptnContext": context, "pageSize": 3})
    body = r.json()
    assert len(body["events"]) == 3 and body["nextPageKey"]
    assert body["totalCount"] == 8
    assert body["events"][0]["type"] == "sh.keptn.event.action.finished"
    # keyset pages: following the keys walks every event once, newest first
    seen = [e["id"] for e in body["events"]]
    while body["nextPageKey"]:
        body = (
            await harness.http.get(
                "/api/v1/events",
                params={"keptnContext": context, "pageSize": 3, "nextPageKey": body["nextPageKey"]},
            )
        ).json()
        seen += [e["id"] for e in body["events"]]
    assert len(seen) == len(set(seen)) == 8
    r = await harness.http.get(
        "/api/v1/events", params={"type": "sh.keptn.event.action.triggered", "project": "website"}
    )
    assert r.json()["totalCount"] == 1
    r = await harness.http.get("/api/v1/events", params={"pageSize": 0})
    assert r.status_code == 400 and r.json()["field"] == "pageSize"


async def test_control_binary_cloudevent_and_trigger_sequence(harness: Harness) -> None:
    await harness.setup_website("formats/shipyard.v0.2.yaml", "formats/remediation.v0.1.4.yaml")
    r = await harness.http.post(
        "/api/v1/event",
        content=b'{"project":"website","stage":"production","service":"front-end","problem":{"ProblemTitle":"Failure rate increase","PID":"p9"}}',
        headers={
            "ce-specversion": "1.0",
            "ce-id": "bin-1",
            "ce-source": "cli",
            "ce-type": "sh.keptn.event.production.remediation.triggered",
            "content-type": "application/json",
        },
    )
    assert r.status_code == 200
    await harness.settle()
    assert [x.action.action for x in harness.provider.requests] == ["toggle-feature"]
    r = await harness.http.post(
        "/api/v1/sequences",
        json={
            "project": "website",
            "stage": "production",
            "service": "front-end",
            "sequence": "nope",
        },
    )
    assert r.status_code == 404


async def test_control_bridge_pages(harness: Harness) -> None:
    await harness.setup_website()
    context = await harness.send(seed_problem())
    r = await harness.http.get("/bridge")
    assert r.status_code == 200 and "website" in r.text
    r = await harness.http.get(
        "/bridge/project/website", params={"service": "front-end", "state": "started"}
    )
    assert r.status_code == 200 and "1 open remediation" in r.text
    r = await harness.http.get(f"/bridge/sequence/{context}")
    assert r.status_code == 200
    assert "sh.keptn.event.action.finished" in r.text and "Pause" in r.text
    # the task chart: one bar per task run so far, the action named, results coloured
    assert 'aria-label="task timeline"' in r.text
    assert 'data-task="get-action" data-result="pass"' in r.text
    assert 'data-task="action" data-result="pass"' in r.text
    assert re.search(r">action: [^<]+</text>", r.text), "the action is named"
    r = await harness.http.post(f"/bridge/sequence/{context}/control", data={"action": "abort"})
    assert r.status_code == 303
    r = await harness.http.get(f"/bridge/sequence/{context}")
    assert "Aborted: aborted by request" in r.text


async def test_control_bridge_redirects_to_login(harness: Harness) -> None:
    from selfheal.runtime import NoUiAuth

    harness.container.runtime.ui_auth = NoUiAuth()
    r = await harness.http.get("/bridge/project/website?state=started")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fbridge%2Fproject%2Fwebsite%3Fstate%3Dstarted"
