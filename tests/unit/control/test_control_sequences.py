"""Queueing, concurrency, timeouts, approval, pause/resume/abort, safety, durability."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace

import httpx
import pytest

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.control import ActionResult
from selfheal.control.config import ControlSettings
from selfheal.core import CloudEvent, ManualClock, iso_from_epoch
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.unit.control.conftest import ADMIN, AdminTokens, Harness, RecordingProvider, seed_problem

V02 = ("formats/shipyard.v0.2.yaml", "formats/remediation.v0.1.4.yaml")


def with_control(settings: Settings, **values: object) -> Settings:
    return settings.model_copy(update={"control": ControlSettings(**values)})  # type: ignore[arg-type]


async def test_control_thousand_copies_start_one_sequence(harness: Harness) -> None:
    await harness.setup_website(*V02)
    copies = []
    for i in range(1000):
        event = copy.deepcopy(seed_problem())
        event["id"] = f"copy-{i}"  # distinct ids: the event store cannot dedupe them
        event["type"] = "sh.keptn.events.problem"
        copies.append(event)
    results = await asyncio.gather(*(harness.http.post("/api/v1/event", json=e) for e in copies))
    assert {r.status_code for r in results} == {200}
    await harness.settle()
    _seqs, total = await harness.service.list_sequences()
    assert total == 1
    assert [r.action.action for r in harness.provider.requests] == ["toggle-feature"]


async def test_control_task_nobody_answers_ends_errored(harness: Harness) -> None:
    await harness.setup_website(*V02)
    harness.container.control.tasks.providers.clear()  # nobody handles the action
    context = await harness.send(seed_problem())
    seq = await harness.service.get_sequence(context)
    assert seq.phase == "triggered"
    await harness.advance(120)
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "errored"
    assert "task action timed out: nobody started it within 120s" in seq.message


async def test_control_external_provider_answers_through_event_api(harness: Harness) -> None:
    await harness.setup_website(*V02)
    harness.container.control.tasks.providers.clear()
    context = await harness.send(seed_problem())
    events = await harness.events(context)
    triggered = next(e for e in events if e["type"] == "sh.keptn.event.action.triggered")
    base = {"project": "website", "stage": "production", "service": "front-end"}
    for phase, extra in (("started", {}), ("finished", {"status": "succeeded", "result": "pass"})):
        await harness.send(
            {
                "type": f"sh.keptn.event.action.{phase}",
                "source": "unleash-service",
                "shkeptncontext": context,
                "triggeredid": triggered["id"],
                "data": {**base, **extra},
            }
        )
    seq = await harness.service.get_sequence(context)
    assert seq.phase == "delayed" and seq.task_index == 2  # waiting to evaluate


async def test_control_pause_resume_abort(harness: Harness) -> None:
    await harness.setup_website(*V02)
    context = await harness.send(seed_problem())
    r = await harness.http.post(
        f"/api/controlPlane/v1/sequence/website/{context}/control", json={"state": "pause"}
    )
    assert r.status_code == 200 and r.json()["state"] == "paused"
    await harness.advance(600)  # the evaluation is due but the sequence is paused
    assert (await harness.service.get_sequence(context)).phase == "delayed"
    r = await harness.http.post(f"/api/v1/sequences/{context}/resume")
    assert r.status_code == 200
    await harness.settle()
    seq = await harness.service.get_sequence(context)
    assert seq.state == "finished" and seq.outcome == "exhausted"
    r = await harness.http.post(f"/api/v1/sequences/{context}/abort")
    assert r.status_code == 409


async def test_control_abort_running_sequence_starts_queued_one(harness: Harness) -> None:
    await harness.setup_website(*V02)
    first = await harness.send(seed_problem())
    other = seed_problem()
    other.update(id="two", shkeptncontext="ctx-two")
    other["data"] = {**other["data"], "PID": "another"}
    second = await harness.send(other)
    assert (await harness.service.get_sequence(second)).state == "waiting"
    r = await harness.http.post(
        f"/api/controlPlane/v1/sequence/website/{first}/control", json={"state": "abort"}
    )
    assert r.json()["outcome"] == "aborted"
    await harness.settle()
    assert (await harness.service.get_sequence(second)).state == "started"
    assert len(harness.provider.requests) == 2


@pytest.fixture
def control_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    values = getattr(request, "param", {})
    return with_control(settings, **values)


@pytest.mark.parametrize("control_settings", [{"require_approval": True}], indirect=True)
async def test_control_approval_then_action(harness: Harness) -> None:
    await harness.setup_website(*V02)
    context = await harness.send(seed_problem())
    seq = await harness.service.get_sequence(context)
    assert seq.phase == "approval" and harness.provider.requests == []
    r = await harness.http.post(f"/api/v1/sequences/{context}/approve")
    assert r.status_code == 200, r.text
    await harness.settle()
    assert [r.action.action for r in harness.provider.requests] == ["toggle-feature"]


@pytest.mark.parametrize(
    "control_settings", [{"require_approval": True, "approval_expiry_seconds": 300}], indirect=True
)
async def test_control_approval_expires_and_resolved_stops(harness: Harness) -> None:
    await harness.setup_website(*V02)
    context = await harness.send(seed_problem())
    await harness.advance(300)
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "rejected" and "approval expired" in seq.message
    # a new occurrence (after RESOLVED) gets its own context; RESOLVED mid-approval stops it
    closing = seed_problem()
    closing.update(id="close", type="sh.keptn.events.problem")
    closing["data"] = {**closing["data"], "State": "RESOLVED"}
    await harness.send(closing)
    # a recurrence: a new notification, sent after the RESOLVED, past the reopen period
    await harness.advance(61)
    reopened = seed_problem()
    reopened.update(id="reopen", time=iso_from_epoch(harness.clock.now()))
    again = await harness.send(reopened)
    seqs, total = await harness.service.list_sequences()
    assert total == 2
    new = next(s for s in seqs if s.context != context)
    assert new.phase == "approval" and again == context  # the event kept its own context
    closing2 = copy.deepcopy(closing)
    closing2["id"] = "close-2"
    await harness.send(closing2)
    new = await harness.service.get_sequence(new.context)
    assert new.outcome == "resolved"
    assert harness.provider.requests == []


@pytest.mark.parametrize("control_settings", [{"dry_run": True}], indirect=True)
async def test_control_dry_run_reaches_providers(harness: Harness) -> None:
    await harness.setup_website(*V02)
    await harness.send(seed_problem())
    assert [r.dry_run for r in harness.provider.requests] == [True]


@pytest.mark.parametrize(
    "control_settings", [{"breaker_max_actions": 1, "cooldown_seconds": 60}], indirect=True
)
async def test_control_breaker_escalates(harness: Harness) -> None:
    await harness.setup_website(*V02)
    harness.provider.results = [ActionResult(result="fail", message="did not help")]
    context = await harness.send(seed_problem())
    await harness.advance(600)
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "exhausted"
    other = seed_problem()
    other.update(id="two", shkeptncontext="ctx-two")
    other["data"] = {**other["data"], "PID": "another"}
    second = await harness.send(other)
    seq = await harness.service.get_sequence(second)
    assert seq.outcome == "escalated", seq.message
    assert "circuit breaker open" in seq.message
    assert [r.action.action for r in harness.provider.requests] == ["toggle-feature"]
    for ctx in (context, second):
        types = [e["type"] for e in await harness.events(ctx)]
        assert types.count("sh.selfheal.problem.escalated") == 1


async def test_control_restart_resumes_without_repeating_action(settings: Settings) -> None:
    clock = ManualClock()
    first = await build(settings, bus=MemoryBus(), clock=clock)
    first.runtime.auth = AdminTokens()
    await first.start()
    provider = RecordingProvider()
    first.control.service.register_action_provider(provider)
    h = Harness(first, clock, provider, httpx.AsyncClient(), first.runtime.bus.inner)  # type: ignore[attr-defined]
    app = create_app(first, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"x-token": ADMIN}
    ) as http:
        h.http = http
        await h.setup_website(*V02)
        context = await h.send(seed_problem())
    await first.stop()  # as good as kill -9 for the engine: state is only in the database
    assert len(provider.requests) == 1

    second = await build(settings, bus=MemoryBus(), clock=clock)
    again = RecordingProvider()
    await second.start()
    second.control.service.register_action_provider(again)
    h2 = Harness(second, clock, again, httpx.AsyncClient(), second.runtime.bus.inner)  # type: ignore[attr-defined]
    try:
        await h2.advance(600)
        seq = await second.control.service.get_sequence(context)
        assert seq.outcome == "exhausted"
        assert again.requests == []  # toggle not repeated; exhaustion is no action
    finally:
        await second.stop()


async def test_control_engine_skips_an_event_marked_applied_and_acts_on_it_unmarked(
    harness: Harness,
) -> None:
    """A task event another replica's engine applied in the step that stored it comes over
    the bus marked `applied`: this engine leaves it alone (no second look at the sequence).
    The same event without the mark (the outbox relay's copy, a provider's answer) is
    applied as before."""
    await harness.setup_website(*V02)
    harness.container.control.tasks.providers.clear()  # an outside provider answers
    context = await harness.send(seed_problem())
    events = await harness.events(context)
    triggered = next(e for e in events if e["type"] == "sh.keptn.event.action.triggered")
    started = CloudEvent(
        type="sh.keptn.event.action.started",
        source="unleash-service",
        data={"project": "website", "stage": "production", "service": "front-end"},
    ).with_extensions(shkeptncontext=context, triggeredid=triggered["id"])
    control = harness.container.control
    await control.on_event(replace(started, applied=True))
    await harness.settle()
    assert (await harness.service.get_sequence(context)).phase == "triggered"
    await control.on_event(started)
    await harness.settle()
    assert (await harness.service.get_sequence(context)).phase == "started"
