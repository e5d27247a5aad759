"""Both halves of the loop through the whole system (HTTP API, memory bus, manual clock):
the monitor opens a problem, the remediation switches the kill switch on in the flags
service, the problem is mitigated, the origin (a fake probe) is verified, the kill switch's
gradual rollout goes 90 → 50 → 0 %, and the problem resolves — and a person's flip holds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from selfheal.settings import Settings
from tests.support.restoreloop import ADMIN, FLAG, PASSWORD, Loop, mitigate, restore_loop


@pytest.fixture
async def loop(settings: Settings) -> AsyncIterator[Loop]:
    async with restore_loop(settings) as running:
        yield running


async def test_restore_loop_brings_traffic_back_and_resolves(loop: Loop) -> None:
    pid = await mitigate(loop)
    got = (await loop.http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
    assert got["status"] == "OPEN" and got["mitigated"] is True
    restore = await loop.until("stepping")
    env = await loop.flag()
    assert env["enabled"] is True
    rollout = [s for s in env["strategies"] if s["name"] == "flexibleRollout"]  # type: ignore[attr-defined]
    assert rollout and rollout[0]["parameters"]["rollout"] == "90"
    assert rollout[0]["parameters"]["stickiness"] == "sessionId"
    restore = await loop.until("restored")
    assert restore["outcome"] == "restored"
    r = await loop.http.get(
        "/api/v1/events", params={"keptnContext": restore["id"], "pageSize": 500}, headers=ADMIN
    )
    types = [e["type"] for e in r.json()["events"]]
    for wanted in (
        "sh.selfheal.problem.mitigated",
        "sh.keptn.event.restore.triggered",
        "sh.selfheal.origin.verified",
        "sh.keptn.event.restore.started",
        "sh.selfheal.restore.step",
        "sh.keptn.event.restore.finished",
    ):
        assert wanted in types, wanted
    assert (await loop.flag())["enabled"] is False
    problem = await loop.container.monitor.service.get_problem(pid)
    assert problem.status == "RESOLVED"
    notes = [c.message for c in await loop.container.monitor.service.comments(pid)]
    assert any(n.startswith("restored after") for n in notes)
    seq = None
    for _ in range(20):  # the problem's RESOLVED lets the remediation's evaluation run now
        await loop.second(100, 0)
        seq = (await loop.http.get(f"/api/v1/sequences/{restore['id']}", headers=ADMIN)).json()
        if seq["state"] == "finished":
            break
    assert seq is not None and seq["outcome"] == "restored", seq
    # the flag's audit names the restore as the actor of its changes
    r = await loop.http.get(f"/api/admin/events/{FLAG}", headers=ADMIN)
    assert r.status_code == 200, r.text
    actors = [e["createdBy"] for e in r.json()["events"]]
    assert actors.count(f"restore:{restore['id']}") == 3  # 90, 50, off


async def test_restore_loop_person_flip_is_recorded_and_held(loop: Loop) -> None:
    pid = await mitigate(loop)
    await loop.until("verifying")
    loop.origin.healthy = False  # the origin is still broken: no restore starts
    r = await loop.http.post(
        f"/api/admin/projects/default/features/{FLAG}/environments/production/off",
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    await loop.settle()
    restore = await loop.restore()
    assert restore["state"] == "held"
    notes = [c.message for c in await loop.container.monitor.service.comments(pid)]
    assert any(f"switched {FLAG} off at " in n for n in notes), notes
    for _ in range(50):  # the fault shows again; nobody switches the flag back in the hold
        await loop.second(100, 50)
        assert (await loop.flag())["enabled"] is False
    restore = await loop.until("armed", failed=50)  # hold over: automation takes over again
    assert (await loop.flag())["enabled"] is True


async def test_restore_loop_banner_and_its_buttons(loop: Loop) -> None:
    pid = await mitigate(loop)
    await loop.until("verifying")
    loop.origin.healthy = False
    http = loop.http
    r = await http.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "next": "/problems"},
    )
    assert r.status_code == 303, r.text
    page = await http.get(f"/problems/{pid}")
    assert page.status_code == 200
    assert 'data-state="verifying"' in page.text and "Mitigated" in page.text
    assert 'value="restore-now"' in page.text and 'value="keep-fallback"' in page.text
    restore = await loop.restore()
    r = await http.post(
        f"/ui/restores/{restore['id']}/decision", data={"decision": "keep-fallback"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/problems/")
    page = await http.get(r.headers["location"])
    assert 'value="resume"' in page.text and "restore kept" in page.text
    r = await http.post(f"/ui/restores/{restore['id']}/decision", data={"decision": "resume"})
    assert r.status_code == 303
    assert (await loop.restore())["state"] == "verifying"
    notes = [c.message for c in await loop.container.monitor.service.comments(pid)]
    assert any("chose to keep the fallback" in n for n in notes)
