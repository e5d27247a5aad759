"""Take-over of sequences whose replica died, timers driven from due rows, action claims and
idempotent problem intake — the whole control plane on a manual clock.

Replica `dead` is a `SequenceStore` with its own lease on the harness's database: it writes
rows as a replica would, then stops heartbeating. The harness's engine is replica `local`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from selfheal.control.config import ControlSettings
from selfheal.control.leases import Lease
from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.core import iso_from_epoch
from selfheal.settings import Settings
from tests.unit.control.conftest import Harness, seed_problem

V02 = ("formats/shipyard.v0.2.yaml", "formats/remediation.v0.1.4.yaml")
TTL = 10.0


def dead_replica(harness: Harness) -> SequenceStore:
    engine = harness.container.control.engine
    lease = Lease("dead", TTL, harness.clock)
    return SequenceStore(harness.container.runtime.database, engine.steps, lease)


async def hand_to(store: SequenceStore, harness: Harness, context: str) -> Sequence:
    seq = await harness.service.get_sequence(context)
    saved = await store.save(seq, message=seq.message)
    assert saved is not None and saved.owner == store.lease.owner
    return saved


def resolved_event(event_id: str) -> dict[str, Any]:
    closing = seed_problem()
    closing.update(id=event_id, type="sh.keptn.events.problem")
    closing["data"] = {**closing["data"], "State": "RESOLVED"}
    return closing


async def test_control_dead_replicas_timer_taken_over(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    engine = harness.container.control.engine
    context = await harness.send(seed_problem())
    seq = await hand_to(dead_replica(harness), harness, context)
    assert seq.phase == "delayed"  # the action ran; the evaluation waits on a timer
    await engine.stop()  # this process's in-memory timers are gone, as the dead one's are
    await harness.clock.advance(TTL - 1)
    assert await engine.poll() == 0  # the lease is live: hands off
    assert (await harness.service.get_sequence(context)).owner == "dead"
    await harness.clock.advance(2)
    assert await engine.poll() == 1
    await harness.settle()
    assert (await harness.service.get_sequence(context)).owner == "local"
    await harness.advance(3600)
    seq = await harness.service.get_sequence(context)
    assert seq.state == "finished"
    toggles = [r for r in harness.provider.requests if r.action.action == "toggle-feature"]
    assert len(toggles) == 1  # the action before the take-over is not run again


@pytest.mark.parametrize(
    "control_settings", [{"require_approval": True, "approval_expiry_seconds": 300}], indirect=True
)
async def test_control_lost_timer_fires_from_its_due_row(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    engine = harness.container.control.engine
    context = await harness.send(seed_problem())
    assert (await harness.service.get_sequence(context)).phase == "approval"
    await engine.stop()  # the in-memory timer is lost
    await harness.clock.advance(3600)
    await harness.settle()
    assert (await harness.service.get_sequence(context)).phase == "approval"
    assert await engine.poll() == 1
    await harness.settle()
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "rejected" and "approval expired" in seq.message


async def test_control_resolved_while_owner_down_is_applied_by_taker(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    control = harness.container.control
    control.tasks.providers.clear()  # the action waits: replica `dead` is running it
    context = await harness.send(seed_problem())
    dead = dead_replica(harness)
    seq = await hand_to(dead, harness, context)
    assert seq.phase == "triggered"
    assert await dead.claim_action(context, 0, seq.scope, "toggle-feature", harness.clock.now())
    control.service.register_action_provider(harness.provider)
    await harness.send(resolved_event("close"))
    seq = await harness.service.get_sequence(context)
    assert seq.state == "started"  # in flight: the dead replica's action may still answer
    assert await control.engine.recover() == 0  # a live replica's sequence is not taken
    await harness.clock.advance(TTL + 1)
    assert await control.engine.poll() == 1
    await harness.settle()
    record = await control.sequences.get_action(context, 0)
    assert record is not None and record.status == "unknown" and record.owner == "dead"
    await harness.advance(3600)
    seq = await harness.service.get_sequence(context)
    assert seq.state == "finished" and seq.outcome == "remediated", seq.message
    assert harness.provider.requests == []  # the dead replica's action never ran twice


async def test_control_claim_outliving_its_sequence_lease_is_closed_by_the_taker(
    harness: Harness,
) -> None:
    """Claim and sequence leases are renewed apart: the dead replica's last heartbeat can leave
    its claim leased seconds after its sequence. The taker closes the claim once that lease
    runs out, not at the task's timeout."""
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    control = harness.container.control
    control.tasks.providers.clear()  # the action waits: replica `dead` is running it
    context = await harness.send(seed_problem())
    seq = await hand_to(dead_replica(harness), harness, context)
    assert seq.phase == "triggered"
    later = Lease("dead", TTL + 5, harness.clock)  # its claim's lease, renewed last
    runner = SequenceStore(harness.container.runtime.database, control.engine.steps, later)
    assert await runner.claim_action(context, 0, seq.scope, "toggle-feature", harness.clock.now())
    control.service.register_action_provider(harness.provider)
    await harness.clock.advance(TTL + 1)
    assert await control.engine.poll() == 1  # the sequence is taken over ...
    await harness.settle()
    seq = await harness.service.get_sequence(context)
    assert seq.owner == "local" and seq.task_index == 1 and seq.phase in ("triggered", "started")
    record = await control.sequences.get_action(context, 0)
    assert record is not None and record.finished is None  # ... its claim is still leased
    await harness.clock.advance(5)
    assert await control.engine.poll() == 1  # the claim's lease ran out: closed, answered
    await harness.settle()
    record = await control.sequences.get_action(context, 0)
    assert record is not None and record.status == "unknown" and record.owner == "dead"
    seq = await harness.service.get_sequence(context)
    assert seq.task_index > 1 or seq.state == "finished", (seq.task_index, seq.phase)
    assert harness.provider.requests == []  # never run a second time


async def test_control_live_claim_blocks_a_second_run(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    control = harness.container.control
    other = dead_replica(harness)  # alive: it keeps heartbeating
    problem = seed_problem()
    context = problem["shkeptncontext"]
    scope = "website/production/front-end"
    assert await other.claim_action(context, 0, scope, "toggle-feature", harness.clock.now())
    assert await harness.send(problem) == context
    seq = await harness.service.get_sequence(context)
    assert seq.phase in ("triggered", "started")
    assert harness.provider.requests == []  # the claim was lost: nothing runs here
    await harness.clock.advance(TTL - 1)
    await other.heartbeat()
    await harness.clock.advance(TTL - 1)
    await control.engine.poll()
    await harness.settle()
    assert harness.provider.requests == []


async def test_control_redelivered_open_after_resolved_starts_nothing(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    opening = seed_problem()
    opening["type"] = "sh.keptn.events.problem"
    await harness.send(opening)
    await harness.send(copy.deepcopy(opening))  # the same notification twice while open
    again = copy.deepcopy(opening)
    again["id"] = "another-copy"  # the same problem, a new id, while open
    await harness.send(again)
    assert (await harness.service.list_sequences())[1] == 1
    await harness.send(resolved_event("close"))
    await harness.send(copy.deepcopy(opening))  # redelivered after the RESOLVED
    await harness.advance(3600)
    await harness.send(copy.deepcopy(opening))  # ... and much later
    assert (await harness.service.list_sequences())[1] == 1


async def test_control_new_open_after_resolved_needs_the_period(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()  # the test polls by hand
    opening = seed_problem()
    opening.update(type="sh.keptn.events.problem", time=iso_from_epoch(harness.clock.now()))
    await harness.send(opening)
    await harness.send(resolved_event("close"))
    await harness.advance(30)
    soon = copy.deepcopy(opening)
    soon.update(id="soon", time=iso_from_epoch(harness.clock.now()))
    await harness.send(soon)  # within the reopen period: a repeat
    assert (await harness.service.list_sequences())[1] == 1
    await harness.advance(31)
    later = copy.deepcopy(opening)
    later.update(id="later", time=iso_from_epoch(harness.clock.now()))
    await harness.send(later)  # past it, sent after the RESOLVED: a new occurrence
    assert (await harness.service.list_sequences())[1] == 2


@pytest.fixture
def control_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    values = getattr(request, "param", {})
    control = ControlSettings(**values)
    return settings.model_copy(update={"control": control})


async def test_control_monitor_reopen_is_a_new_occurrence_at_once(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.container.control.keeper.stop()

    def notice(event_id: str, state: str, occurrence: int) -> dict[str, Any]:
        event = seed_problem()
        event.update(id=event_id, type="sh.keptn.events.problem", source="selfheal/monitor")
        details = {**event["data"]["ProblemDetails"], "occurrence": occurrence}
        event["data"] = {**event["data"], "State": state, "ProblemDetails": details}
        return event

    await harness.send(notice("open-1", "OPEN", 1))
    await harness.send(notice("resolved-1", "RESOLVED", 1))
    await harness.send(notice("open-1-copy", "OPEN", 1))  # a copy of occurrence 1: a repeat
    assert (await harness.service.list_sequences())[1] == 1
    await harness.send(notice("open-2", "OPEN", 2))  # the monitor reopened it: new, at once
    assert (await harness.service.list_sequences())[1] == 2
