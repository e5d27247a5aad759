"""A problem posted to this process's API is taken in the intake's own step: the event is
stored with the occurrence, the sequence and its first action's claim, and marked applied
on the bus, so no intake (of this or another replica) takes it again — and the outbox
relay's copy, which carries no mark, is recognised as a repeat."""

from __future__ import annotations

from dataclasses import replace

from selfheal.core import CloudEvent
from tests.unit.control.conftest import Harness, seed_problem


async def test_a_posted_problem_is_taken_once_and_its_unmarked_copy_is_a_repeat(
    harness: Harness,
) -> None:
    await harness.setup_website()
    taken: list[CloudEvent] = []
    intake = harness.container.control.intake
    real = intake.on_problem

    async def counting(event: CloudEvent, **kw: object) -> None:
        taken.append(event)
        await real(event, **kw)  # type: ignore[arg-type]

    intake.on_problem = counting  # type: ignore[method-assign]
    body = seed_problem()
    kind = body["type"]  # Keptn's problem.open, as the seed's Dynatrace integration sends
    context = await harness.send(body)
    # taken once, by the API's request (the bus copy is marked applied and skipped)
    assert len(taken) == 1
    assert len(harness.provider.requests) == 1
    types = [e["type"] for e in await harness.events(context)]
    assert types.count(kind) == 1
    assert types.count("sh.keptn.event.action.triggered") == 1

    # the relay's copy of the stored event (no applied mark) reaches the intake from the
    # bus: the same notification, so no second occurrence, sequence or action
    stored = next(
        CloudEvent.from_dict(e) for e in await harness.events(context) if e["type"] == kind
    )
    await harness.bus.publish(replace(stored, applied=False))
    await harness.settle()
    assert len(taken) == 2
    assert len(harness.provider.requests) == 1
    listed = (await harness.http.get("/api/v1/sequences")).json()
    assert [s["shkeptncontext"] for s in listed["sequences"]] == [context]


async def test_a_problem_the_intake_cannot_place_is_stored_and_published_as_before(
    harness: Harness,
) -> None:
    await harness.setup_website()
    body = seed_problem()
    body["data"]["Tags"] = ""  # no keptn_project / keptn_stage / keptn_service
    body["data"].pop("ProblemDetailsJSON", None)
    for key in ("project", "stage", "service"):
        body.pop(key, None)
        body["data"].pop(key, None)
    context = await harness.send(body)
    types = [e["type"] for e in await harness.events(context)]
    assert types == [body["type"]]
    assert harness.provider.requests == []


async def test_the_problem_type_of_the_monitor_is_taken_in_the_request_too(
    harness: Harness,
) -> None:
    await harness.setup_website()
    body = seed_problem()
    body["type"] = "sh.keptn.events.problem"
    context = await harness.send(body)
    assert len(harness.provider.requests) == 1
    types = [e["type"] for e in await harness.events(context)]
    assert types.count("sh.keptn.events.problem") == 1
