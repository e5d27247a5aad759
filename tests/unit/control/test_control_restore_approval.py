"""A restore's approval goes through Keptn's approval task: waiting for it emits
`approval.triggered` (which the Slack integration turns into Approve/Reject buttons), and
the answer — `approval.finished` with that triggeredid, from any Keptn client, or the
console/API/Slack's approve — moves the restore on."""

from __future__ import annotations

from typing import Any

from selfheal.control.restore_store import Restore
from tests.unit.control import test_control_restore as machine
from tests.unit.control.test_control_restore import PID, RESTORE, Rig

# the restore tests' rig (the remediation for real, the monitor and flags as doubles)
control_settings = machine.control_settings
rig = machine.rig

TRIGGERED = "sh.keptn.event.approval.triggered"
FINISHED = "sh.keptn.event.approval.finished"


async def waiting(rig: Rig) -> tuple[Restore, dict[str, Any]]:
    """A verified restore waiting for its approval, and its approval request."""
    r = await rig.verified(RESTORE % "true")
    assert r.state == "approval"
    asks = [e for e in await rig.h.events(r.id) if e["type"] == TRIGGERED]
    assert len(asks) == 1, asks
    return r, asks[0]


def answer(r: Restore, triggered: str, result: str, by: str = "keptn-cli") -> dict[str, Any]:
    return {
        "type": FINISHED,
        "source": "keptn-cli",
        "shkeptncontext": r.id,
        "triggeredid": triggered,
        "data": {
            "project": r.project,
            "stage": r.stage,
            "service": r.service,
            "status": "succeeded",
            "result": result,
            "approval": {"by": by},
        },
    }


async def test_waiting_for_approval_asks_through_keptns_approval_task(rig: Rig) -> None:
    r, ask = await waiting(rig)
    assert ask["source"] == "selfheal/restore"
    assert ask["shkeptncontext"] == r.id
    assert ask["id"].startswith(f"restore-{r.id}-approval-")
    data = ask["data"]
    assert (data["project"], data["stage"], data["service"]) == (
        "website",
        "production",
        "front-end",
    )
    assert data["problemId"] == PID and data["flag"] == "EnableStaticContent"
    assert data["restore"] == {"steps": [90, 50, 0]}
    assert data["approval"] == {"pass": "manual", "warning": "manual"}
    assert data["message"] == "origin verified (2 probes ok)"
    # waiting asks once: the clock moving on asks nothing more
    await rig.run(30)
    assert [e["type"] for e in await rig.h.events(r.id)].count(TRIGGERED) == 1


async def test_approving_answers_the_request(rig: Rig) -> None:
    r, ask = await waiting(rig)
    resp = await rig.h.http.post(f"/api/v1/restores/{r.id}/approve", json={"by": "jane"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "stepping"
    await rig.h.settle()
    events = await rig.h.events(r.id)
    [done] = [e for e in events if e["type"] == FINISHED]
    assert done["triggeredid"] == ask["id"]
    assert done["source"] == "selfheal/restore"
    assert (done["data"]["result"], done["data"]["approval"]) == (
        "pass",
        {"by": "jane", "approved": True},
    )
    assert rig.switch.percents == [90]
    # our own answer coming back on the bus changes nothing
    r = await rig.current()
    assert r.state == "stepping" and rig.switch.percents == [90]


async def test_an_approval_finished_from_a_keptn_client_approves_the_restore(rig: Rig) -> None:
    r, ask = await waiting(rig)
    await rig.h.send(answer(r, ask["id"], "pass", by="alice"))
    r = await rig.current()
    assert r.state == "stepping" and rig.switch.percents == [90]
    events = await rig.h.events(r.id)
    decided = [e["data"] for e in events if e["type"] == "sh.selfheal.restore.decided"]
    assert decided == [{**decided[0], "decision": "approved", "by": "alice"}]
    # the client's answer is the one answer: the restore sends no second one
    assert [e["source"] for e in events if e["type"] == FINISHED] == ["keptn-cli"]


async def test_a_failed_approval_rejects_and_keeps_the_fallback(rig: Rig) -> None:
    r, ask = await waiting(rig)
    await rig.h.send(answer(r, ask["id"], "fail", by="bob"))
    r = await rig.current()
    assert r.state == "kept" and r.held_by == "bob"
    assert rig.switch.changes == []


async def test_an_answer_to_another_request_is_not_the_restores(rig: Rig) -> None:
    r, _ask = await waiting(rig)
    await rig.h.send(answer(r, "some-other-approval", "pass"))
    r = await rig.current()
    assert r.state == "approval" and rig.switch.changes == []
