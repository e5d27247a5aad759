"""The restore state machine on a manual clock: every transition, driven by hand (`poll`).

The remediation runs for real (engine, SQLite, memory bus); the monitor and the flags
service are the doubles of tests/support/restores.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from selfheal.control.config import ControlSettings
from selfheal.control.errors import RestoreConflict
from selfheal.control.leases import Lease
from selfheal.control.restore import RestoreMachine
from selfheal.control.restore_store import Restore, RestoreStore
from selfheal.core import CloudEvent
from selfheal.settings import Settings
from tests.support.paths import SEED
from tests.support.restores import Cadence, FakeDesk, FakeOrigin, FakeSwitch
from tests.unit.control.conftest import Harness, RecordingProvider, b64, seed_problem

PID = "-4349221618435898381"
RESTORE = """\
apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: website}
spec:
  remediations:
    - problemType: "Failure rate increase"
      actionsOnOpen:
        - name: Toggle
          action: toggle-feature
          value: {EnableStaticContent: "on"}
      restore:
        probe: {consecutive: 2, intervalSeconds: 1}
        steps: [90, 50, 0]
        holdSeconds: 10
        maxFailureRate: 0.1
        backoff: {initialSeconds: 30, maxSeconds: 120}
        maxAttemptsPerHour: 2
        approval: %s
"""
PLAIN = """\
apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: website}
spec:
  remediations:
    - problemType: "Failure rate increase"
      actionsOnOpen:
        - name: Toggle
          action: toggle-feature
          value: {EnableStaticContent: "on"}
"""


@dataclass
class FlagProvider(RecordingProvider):
    """Answers a toggle as the real provider does (which flags, where)."""

    async def execute(self, request: Any) -> Any:
        from selfheal.control import ActionResult

        self.requests.append(request)
        return ActionResult(
            message="switched",
            data={
                "flags": {"EnableStaticContent": True},
                "environment": "production",
                "project": "default",
            },
        )


@dataclass
class Rig:
    h: Harness
    origin: FakeOrigin
    desk: FakeDesk
    switch: FakeSwitch

    @property
    def machine(self) -> RestoreMachine:
        return self.h.container.control.restores

    async def start(self, remediation: str, shipyard: str | None = None) -> Restore:
        """The seed problem remediated with `remediation`; its armed restore."""
        h = self.h
        text = shipyard or (SEED / "formats/shipyard.v0.2.yaml").read_text()
        r = await h.http.post(
            "/api/controlPlane/v1/project", json={"projectName": "website", "shipyard": b64(text)}
        )
        assert r.status_code == 201, r.text
        r = await h.http.post(
            "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
        )
        assert r.status_code == 201, r.text
        r = await h.http.post(
            "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
            json={
                "resources": [
                    {"resourceURI": "remediation.yaml", "resourceContent": b64(remediation)}
                ]
            },
        )
        assert r.status_code == 201, r.text
        self.desk.open(PID)
        context = await h.send(seed_problem())
        found = await self.machine.store.get(context)
        assert found is not None
        return found

    async def run(self, seconds: float, every: float = 1.0) -> Restore:
        """Move the clock in `every` steps, driving due restores after each."""
        moved = 0.0
        while moved < seconds:
            await self.h.clock.advance(every)
            moved += every
            await self.machine.poll()
        await self.h.settle()
        return await self.current()

    async def current(self) -> Restore:
        found = await self.machine.store.list()
        assert len(found) == 1
        return found[0]

    async def types(self) -> list[str]:
        r = await self.current()
        return [e["type"] for e in await self.h.events(r.id)]

    async def verified(self, remediation: str, shipyard: str | None = None) -> Restore:
        """Up to the first step: mitigated, two probes ok."""
        r = await self.start(remediation, shipyard)
        self.desk.mitigate(PID, self.h.clock.now())
        for _ in range(10):
            if r.state not in ("armed", "verifying"):
                return r
            r = await self.run(1)
        raise AssertionError(f"not verified: {r.state} {r.message}")


@pytest.fixture
def control_settings(settings: Settings) -> Settings:
    # the test drives restores by hand: the background loops never come round
    control = ControlSettings(poll_seconds=3600, heartbeat_seconds=3600, restore_hold_seconds=60)
    return settings.model_copy(update={"control": control})


@pytest.fixture
async def rig(harness: Harness) -> AsyncIterator[Rig]:
    harness.container.control.tasks.providers.clear()
    harness.provider = FlagProvider()
    harness.container.control.service.register_action_provider(harness.provider)
    origin, desk, switch = FakeOrigin(), FakeDesk(), FakeSwitch()
    harness.container.control.restores.use(origin=origin, desk=desk, switch=switch)
    yield Rig(harness, origin, desk, switch)


def flip(actor: str, enabled: bool, event_id: str = "flags-1") -> CloudEvent:
    kind = "feature-environment-enabled" if enabled else "feature-environment-disabled"
    return CloudEvent(
        type=f"selfheal.flags.{kind}",
        source="selfheal/flags",
        id=event_id,
        data={
            "type": kind,
            "createdBy": actor,
            "createdAt": 1_700_000_000.0,
            "featureName": "EnableStaticContent",
            "environment": "production",
            "data": {"environments": [{"name": "production", "enabled": enabled}]},
        },
    )


async def test_restore_without_block_behaves_as_before(rig: Rig) -> None:
    h = rig.h
    text = (SEED / "formats/shipyard.v0.2.yaml").read_text()
    await h.http.post(
        "/api/controlPlane/v1/project", json={"projectName": "website", "shipyard": b64(text)}
    )
    await h.http.post(
        "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
    )
    await h.http.post(
        "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
        json={"resources": [{"resourceURI": "remediation.yaml", "resourceContent": b64(PLAIN)}]},
    )
    context = await h.send(seed_problem())
    assert len(h.provider.requests) == 1
    assert await rig.machine.store.list() == []
    assert rig.desk.masked == {}
    assert not any("restore" in e["type"] for e in await h.events(context))


async def test_restore_armed_masks_and_waits_for_mitigation(rig: Rig) -> None:
    r = await rig.start(RESTORE % "false")
    assert r.state == "armed" and r.flag == "EnableStaticContent"
    assert r.environment == "production" and r.problem_id == PID
    assert rig.desk.masked == {PID: "EnableStaticContent"}
    r = await rig.run(10)
    assert r.state == "armed" and rig.origin.probes == 0  # not mitigated: no probing
    rig.desk.mitigate(PID, rig.h.clock.now())
    r = await rig.run(2)
    assert r.state == "verifying"
    assert "sh.keptn.event.restore.triggered" in await rig.types()


async def test_restore_full_progression_resolves_the_problem(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    assert r.state == "stepping" and r.step == 0
    assert rig.switch.percents == [90]
    assert all(actor == f"restore:{r.id}" for _, actor in rig.switch.changes)
    r = await rig.run(10)
    assert r.step == 1 and rig.switch.percents == [90, 50]
    r = await rig.run(10)
    assert r.step == 2 and rig.switch.percents == [90, 50, 0]
    assert r.state == "stepping"  # the flag is off; the last hold still watches the origin
    r = await rig.run(10)
    assert r.state == "restored" and r.outcome == "restored"
    assert rig.desk.resolved and "restored after" in rig.desk.resolved[0][1]
    types = await rig.types()
    for wanted in (
        "sh.keptn.event.restore.triggered",
        "sh.selfheal.origin.verified",
        "sh.keptn.event.restore.started",
        "sh.selfheal.restore.step",
        "sh.keptn.event.restore.finished",
    ):
        assert wanted in types, wanted
    finished = [
        e for e in await rig.h.events(r.id) if e["type"] == "sh.keptn.event.restore.finished"
    ]
    assert finished[0]["data"]["outcome"] == "restored"
    assert finished[0]["data"]["result"] == "pass"
    assert finished[0]["triggeredid"] == f"restore-{r.id}"
    steps = [e for e in await rig.h.events(r.id) if e["type"] == "sh.selfheal.restore.step"]
    assert [e["data"]["fallbackPercent"] for e in steps] == [90, 50, 0]


async def test_restore_failed_probe_restarts_the_count(rig: Rig) -> None:
    rig.origin.answers = [True, False, True]
    r = await rig.start(RESTORE % "false")
    rig.desk.mitigate(PID, rig.h.clock.now())
    r = await rig.run(2)
    assert r.state == "verifying" and rig.origin.probes == 0
    r = await rig.run(3)  # ok, fail, ok
    assert r.state == "verifying" and r.probes_ok == 1, r.message
    assert rig.origin.probes == 3
    r = await rig.run(1)
    assert r.state == "stepping"
    assert rig.origin.probes == 4


async def test_restore_probe_cadence_comes_from_monitor_yaml_unless_overridden(
    rig: Rig,
) -> None:
    """A restore block without `probe:` probes as the service's monitor.yaml probe says
    (`interval_seconds` 3, `consecutive` 4 here); the block's own values override them."""
    rig.origin.cadence = Cadence(interval_seconds=3.0, consecutive=4)
    plain = RESTORE.replace("        probe: {consecutive: 2, intervalSeconds: 1}\n", "")
    r = await rig.start(plain % "false")
    rig.desk.mitigate(PID, rig.h.clock.now())
    r = await rig.run(2)
    assert r.state == "verifying" and rig.origin.probes == 0
    r = await rig.run(7)  # probes at +0, +3, +6: three of the four needed
    assert r.state == "verifying" and r.probes_ok == 3 and r.message.endswith("(3 of 4)")
    r = await rig.run(3)
    assert r.state == "stepping" and rig.origin.probes == 4


async def test_restore_no_probe_configured_waits(rig: Rig) -> None:
    rig.origin.configured = False
    await rig.start(RESTORE % "false")
    rig.desk.mitigate(PID, rig.h.clock.now())
    r = await rig.run(5)
    assert r.state == "verifying" and "no probe configured" in r.message
    assert rig.switch.changes == []


@pytest.mark.parametrize("step", [0, 1, 2])
async def test_restore_breach_at_each_step_goes_back_to_full_fallback(rig: Rig, step: int) -> None:
    r = await rig.verified(RESTORE % "false")
    if step:
        r = await rig.run(10 * step)
    assert r.step == step
    rig.origin.rate = (100, 20)  # 20 % of origin-served requests fail
    r = await rig.run(2)
    assert r.state == "backoff" and r.failures == 1
    assert rig.switch.percent == 100
    assert rig.switch.percents[-1] == 100
    assert "sh.selfheal.restore.breached" in await rig.types()
    assert any("breached" in text for _, text in rig.desk.comments)
    rig.origin.rate = (0, 0)
    r = await rig.run(29)
    assert r.state == "backoff"  # the backoff (30 s) holds
    r = await rig.run(1)
    assert r.state == "verifying"
    r = await rig.run(2)
    assert r.state == "stepping" and r.step == 0 and len(r.attempts) == 2


async def test_restore_backoff_doubles_and_attempts_are_capped_per_hour(rig: Rig) -> None:
    await rig.verified(RESTORE % "false")
    rig.origin.rate = (10, 5)
    r = await rig.run(2)
    assert r.state == "backoff" and r.due == rig.h.clock.now() + 30
    r = await rig.run(36)  # backoff over, verified again, second attempt, breached again
    assert r.state == "backoff" and r.failures == 2
    assert r.due is not None and 55 <= r.due - rig.h.clock.now() <= 60  # doubled
    r = await rig.run(61)
    # two attempts in the hour (the cap): no third until the first is an hour old
    assert r.state == "verifying" and "attempts in the last hour" in r.message
    changes = len(rig.switch.changes)
    r = await rig.run(60)
    assert len(rig.switch.changes) == changes
    assert r.due is not None and r.due > rig.h.clock.now()


async def test_restore_with_approval_waits_then_steps(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "true")
    assert r.state == "approval" and r.due is None
    assert rig.switch.changes == []
    r = await rig.run(100)
    assert r.state == "approval"
    # the existing approval of the remediation's context approves the restore
    resp = await rig.h.http.post(f"/api/v1/sequences/{r.id}/approve")
    assert resp.status_code == 200, resp.text
    r = await rig.current()
    assert r.state == "stepping" and rig.switch.percents == [90]
    assert "sh.selfheal.restore.decided" in await rig.types()


async def test_restore_rejected_keeps_the_fallback(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "true")
    r = await rig.machine.approve(r.id, False, by="bob")
    assert r.state == "kept"
    r = await rig.run(600)
    assert r.state == "kept" and rig.switch.changes == [] and rig.switch.percent == 100


async def test_restore_person_flip_holds_then_resumes(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    rig.switch.percent = 0  # the person switched it off
    await rig.machine.on_flag_event(flip("admin", False))
    await rig.machine.on_flag_event(flip("admin", False))  # a redelivery: one hold
    r = await rig.current()
    assert r.state == "held" and r.held_by == "admin"
    notes = [text for _, text in rig.desk.comments if text.startswith("admin switched")]
    assert len(notes) == 1 and "EnableStaticContent off at " in notes[0]
    changes = len(rig.switch.changes)
    r = await rig.run(59)
    assert r.state == "held" and len(rig.switch.changes) == changes  # never undone in the hold
    rig.desk.problems[PID][1] = None  # the service failed without the fallback
    r = await rig.run(1)
    assert r.state == "armed" and rig.switch.percent == 100
    assert "sh.selfheal.restore.held" in await rig.types()
    assert "sh.selfheal.restore.resumed" in await rig.types()


async def test_restore_person_flip_off_that_holds_is_the_restore(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    rig.switch.percent = 0
    await rig.machine.on_flag_event(flip("user:carol", False))  # from the console
    r = await rig.current()
    assert r.held_by == "user:carol"  # the flag's actor, as the audit log has it
    assert any(text.startswith("carol (console) switched") for _, text in rig.desk.comments)
    r = await rig.run(60)  # still mitigated (healthy) when the hold ends
    assert r.state == "restored"
    assert rig.desk.resolved and "switched off by carol (console)" in rig.desk.resolved[0][1]


async def test_restore_ignores_the_automations_own_flips(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    await rig.machine.on_flag_event(flip(f"restore:{r.id}", True))
    await rig.machine.on_flag_event(flip("remediation:other", True))
    assert (await rig.current()).state == "stepping"


async def test_restore_keep_fallback_resume_and_restore_now(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    r = await rig.machine.keep_fallback(r.id, by="dave")
    assert r.state == "kept" and rig.switch.percent == 100
    r = await rig.run(300)
    assert r.state == "kept"
    with pytest.raises(RestoreConflict):
        await rig.machine.approve(r.id, True, by="dave")
    r = await rig.machine.resume(r.id, by="dave")
    assert r.state == "verifying"
    r = await rig.machine.restore_now(r.id, by="erin")
    assert r.state == "stepping" and rig.switch.percent == 90
    with pytest.raises(RestoreConflict):
        await rig.machine.restore_now(r.id, by="erin")
    decided = [
        e["data"]["decision"]
        for e in await rig.h.events(r.id)
        if e["type"] == "sh.selfheal.restore.decided"
    ]
    assert decided == ["keep-fallback", "resume-automation", "restore-now"]


async def test_restore_closed_problem_ends_the_restore(rig: Rig) -> None:
    await rig.start(RESTORE % "false")
    rig.desk.problems[PID][0] = "CLOSED"
    r = await rig.run(2)
    assert r.state == "closed" and rig.switch.changes == []


async def test_restore_crash_mid_step_is_taken_over_after_the_lease(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    # replica `dead` holds it (it wrote the row last), then dies mid-hold
    dead = RestoreStore(rig.machine.steps, Lease("dead", 10.0, rig.h.clock))
    saved = await dead.save(r, message=r.message)
    assert saved is not None and saved.owner == "dead"
    await rig.h.clock.advance(5)
    assert await rig.machine.store.due() == []  # its lease lives: hands off
    await rig.h.clock.advance(6)
    taken = await rig.machine.poll()
    assert taken == 1
    r = await rig.current()
    # the hold of step 1 passed while nobody watched: the taker goes on from there
    assert r.owner == "local" and r.state == "stepping" and r.step == 1
    assert rig.switch.percents == [90, 50]


async def test_restore_crash_between_flip_and_commit_repeats_the_transition(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    # the replica set 50 % and died before its row said so: the row still says step 0
    rig.switch.percent = 50
    r = await rig.run(10)
    assert r.step == 1 and rig.switch.percent == 50 and rig.switch.percents[-1] == 50


async def test_restore_api_lists_and_decides(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false")
    resp = await rig.h.http.get("/api/v1/restores", params={"problem": PID})
    assert resp.status_code == 200
    assert [x["id"] for x in resp.json()["restores"]] == [r.id]
    resp = await rig.h.http.post(f"/api/v1/restores/{r.id}/keep-fallback")
    assert resp.status_code == 200 and resp.json()["state"] == "kept"
    resp = await rig.h.http.post(f"/api/v1/restores/{r.id}/bogus")
    assert resp.status_code == 400 and "decision" in resp.text
    resp = await rig.h.http.post("/api/v1/restores/nope/resume")
    assert resp.status_code == 404
    resp = await rig.h.http.post(f"/api/v1/restores/{r.id}/resume", headers={"x-token": "bad"})
    assert resp.status_code == 401


async def test_restore_of_a_problem_the_monitor_does_not_know_closes(rig: Rig) -> None:
    r = await rig.start(RESTORE % "false")
    assert r.state == "armed"
    rig.desk.problems.pop(PID)  # e.g. a problem only Dynatrace knows
    r = await rig.run(3)
    assert r.state == "closed" and "not one the monitor tracks" in r.message


NO_EVALUATION = """\
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: website}
spec:
  stages:
    - name: production
      sequences:
        - name: remediation
          tasks:
            - name: get-action
            - name: action
"""


async def test_restore_turns_a_finished_remediation_into_restored(rig: Rig) -> None:
    r = await rig.verified(RESTORE % "false", NO_EVALUATION)
    seq = await rig.h.service.get_sequence(r.id)
    assert seq.state == "finished" and seq.outcome == "remediated"
    r = await rig.run(30)
    assert r.state == "restored"
    seq = await rig.h.service.get_sequence(r.id)
    assert seq.outcome == "restored" and seq.message.startswith("restored after")


def audited(actor: str, enabled: bool, revision: int, at: float) -> CloudEvent:
    """A person's change as the flag's audit log has it (not delivered by the bus)."""
    event = flip(actor, enabled, f"flags-{revision}")
    data = {**event.payload(), "createdAt": at, "revision": revision}
    return CloudEvent(type=event.type, source=event.source, id=event.id, data=data)


async def test_restore_person_flip_read_from_the_audit_log_holds_without_the_bus(
    rig: Rig,
) -> None:
    """A flip on another replica while the bus is away: the restore reads it from the
    database before it writes the flag, holds, and never overwrites it in the hold."""
    r = await rig.verified(RESTORE % "false")
    assert r.state == "stepping" and rig.switch.percents == [90]
    rig.switch.percent = 0
    rig.switch.audit.append(audited("bob", False, 7, rig.h.clock.now()))
    changes = len(rig.switch.changes)
    r = await rig.run(2)  # the step's next check
    assert r.state == "held" and r.held_by == "bob" and r.flip_event == "flags-7"
    notes = [text for _, text in rig.desk.comments if text.startswith("bob switched")]
    assert len(notes) == 1 and "on hold until" in notes[0]
    r = await rig.run(57)
    assert r.state == "held" and len(rig.switch.changes) == changes
    # the bus delivers the same change late, then an older one: neither holds again
    await rig.machine.on_flag_event(rig.switch.audit[-1])
    await rig.machine.on_flag_event(flip("bob", True, "flags-5"))
    notes = [text for _, text in rig.desk.comments if text.startswith("bob switched")]
    assert len(notes) == 1
    r = await rig.run(5)  # the hold is over; still mitigated with the flag off: restored
    assert r.state == "restored" and "bob" in rig.desk.resolved[0][1]


async def test_restore_person_flip_during_a_probe_is_not_overwritten(rig: Rig) -> None:
    """The flip lands between the tick's first look and the flag write (a slow probe):
    the write is not made; the restore holds."""
    r = await rig.start(RESTORE % "false")
    rig.desk.mitigate(PID, rig.h.clock.now())
    r = await rig.run(2)
    assert r.state == "verifying"
    probe = rig.origin.probe_origin

    async def slow_probe(*args: Any) -> Any:
        rig.switch.audit.append(audited("dave", False, 9, rig.h.clock.now()))
        return await probe(*args)

    rig.origin.probe_origin = slow_probe  # type: ignore[method-assign,assignment]
    r = await rig.run(3)
    assert r.state == "held" and r.held_by == "dave"
    assert rig.switch.changes == []


async def test_restore_person_flip_committed_during_the_write_is_not_overwritten(
    rig: Rig,
) -> None:
    """The flip commits after the restore's last look and before its write lands: the write
    is a compare-and-set against the share the restore believes the flag holds, so it finds
    the flag moved, looks again, and holds — the person's value stays."""
    r = await rig.verified(RESTORE % "false")
    assert r.state == "stepping" and rig.switch.percents == [90]
    write = rig.switch.set_fallback
    raced: list[bool] = []

    async def racing_write(*args: Any, **kwargs: Any) -> None:
        if not raced:  # the person's flip commits just before the automation's write
            raced.append(True)
            rig.switch.percent = 0
            rig.switch.audit.append(audited("frank", False, 11, rig.h.clock.now()))
        await write(*args, **kwargs)

    rig.switch.set_fallback = racing_write  # type: ignore[method-assign]
    r = await rig.run(12)  # step 0's hold passes: the restore writes step 1 (50 %)
    assert raced and r.state == "held" and r.held_by == "frank"
    assert rig.switch.percent == 0 and rig.switch.percents == [90]


async def test_restore_person_change_before_the_restore_is_no_flip(rig: Rig) -> None:
    rig.switch.audit.append(audited("erin", True, 3, rig.h.clock.now() - 600))
    r = await rig.verified(RESTORE % "false")
    assert r.state == "stepping" and r.held_by is None


async def reopen(rig: Rig, pid: str, *, mitigated: bool = False) -> str:
    """A person closes the problem mid-restore; it reopens as a new occurrence `pid`, whose
    remediation switches the same kill switch on and arms a second restore."""
    resolved = seed_problem()
    resolved["id"] = "closed-by-a-person"
    resolved["data"] = {**resolved["data"], "State": "RESOLVED"}
    await rig.h.send(resolved)
    problem = seed_problem()
    problem["id"] = "another-notification"
    problem["data"]["PID"] = pid
    problem["data"]["ProblemID"] = "reopened"
    rig.desk.open(pid)
    if mitigated:
        rig.desk.mitigate(pid, rig.h.clock.now())
    await rig.h.send(problem)
    return pid


async def test_restore_a_new_restore_of_the_same_flag_supersedes_the_old_one(
    rig: Rig,
) -> None:
    """The problem reopens as a new occurrence (a person closed it mid-restore): its new
    remediation arms a second restore of the same kill switch; the first is closed, so
    one restore drives the flag, and the flag is back at 100 % on the fallback."""
    old = await rig.verified(RESTORE % "false")
    assert old.state == "stepping" and rig.switch.percent == 90
    PID2 = await reopen(rig, "-1111")
    restores = {x.id: x for x in await rig.machine.store.list()}
    assert len(restores) == 2
    first = restores[old.id]
    assert first.state == "closed" and first.outcome == "superseded"
    (new,) = [x for x in restores.values() if x.id != old.id]
    assert new.state == "armed" and new.problem_id == PID2
    await rig.h.clock.advance(1)
    await rig.machine.poll()
    assert rig.switch.percent == 100
    assert [x.id for x in await rig.machine.store.for_flag(new.flag, new.environment)] == [new.id]
    events = await rig.h.events(old.id)
    finished = [e for e in events if e["type"] == "sh.keptn.event.restore.finished"]
    assert len(finished) == 1 and finished[0]["data"]["outcome"] == "superseded"


async def test_restore_a_new_restore_keeps_a_persons_keep_fallback(rig: Rig) -> None:
    """A person chose "keep fallback" on the first restore; the problem reopens and a new
    remediation arms a second restore of the same kill switch: the decision stands — the new
    restore is kept too, probes nothing and never steps until automation is resumed."""
    old = await rig.verified(RESTORE % "false")
    await rig.machine.keep_fallback(old.id, by="ann")
    await reopen(rig, "-2222", mitigated=True)
    (new,) = [x for x in await rig.machine.store.list() if x.id != old.id]
    assert new.state == "kept" and new.held_by == "ann", new.message
    probes, changes = rig.origin.probes, len(rig.switch.changes)
    for _ in range(30):
        await rig.h.clock.advance(10)
        await rig.machine.poll()
    new = await rig.machine.store.get(new.id)
    assert new is not None and new.state == "kept"
    assert rig.origin.probes == probes and rig.switch.percent == 100
    assert all(p == 100 for p, _ in rig.switch.changes[changes:])
    resumed = await rig.machine.resume(new.id, by="ann")
    assert resumed.state != "kept"
