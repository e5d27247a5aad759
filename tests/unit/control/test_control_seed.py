"""The seed scenario end to end through the HTTP API, with a recording action provider."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from selfheal.control import ActionResult
from tests.unit.control.conftest import Harness, seed_problem


def resolved(problem: dict) -> dict:  # type: ignore[type-arg]
    event = {**problem, "id": problem["id"] + "-resolved", "type": "sh.keptn.events.problem"}
    event["data"] = {**problem["data"], "State": "RESOLVED"}
    return event


async def test_control_seed_legacy_files_toggle_the_flag(harness: Harness) -> None:
    await harness.setup_website()
    context = await harness.send(seed_problem())
    assert context == "2d343334-3932-4231-b631-383433353839"
    [request] = harness.provider.requests
    assert request.action.action == "toggle-feature"
    assert request.action.flag_changes() == {"EnableStaticContent": True}
    assert request.project == "website" and request.service == "front-end"
    assert request.problem["ProblemTitle"] == "Failure rate increase"
    seq = await harness.service.get_sequence(context)
    assert seq.state == "started" and seq.phase == "delayed"  # the evaluation waits 10 minutes

    events = await harness.events(context)
    types = [e["type"] for e in events]
    assert types[:2] == [
        "sh.keptn.event.problem.open",
        "sh.keptn.event.production.remediation.triggered",
    ]
    assert "sh.keptn.event.action.finished" in types
    by_type = {e["type"]: e for e in events}
    triggered = by_type["sh.keptn.event.action.triggered"]["data"]
    assert triggered["message"].startswith("Keptn triggered action toggle-feature")
    assert triggered["problem"]["PID"] == "-4349221618435898381"
    assert triggered["labels"]["Sequence URL"].endswith(f"/bridge/sequence/{context}")
    assert by_type["sh.keptn.event.action.started"]["data"]["message"] == (
        "Keptn remediation action started execution by: selfheal/toggle-feature"
    )
    assert by_type["sh.keptn.event.action.finished"]["data"]["message"].startswith(
        "Keptn finished execution of action by: selfheal/toggle-feature Result: pass Status: succeeded"
    )

    # the problem closes: the evaluation runs now (no 10-minute wait) and passes
    await harness.send(resolved(seed_problem()))
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "remediated", seq.message
    assert "after action 1 of 1 (toggle-feature EnableStaticContent on)" in seq.message
    events = await harness.events(context)
    evaluation = next(e for e in events if e["type"] == "sh.keptn.event.evaluation.finished")
    assert (
        evaluation["data"]["message"] == "Keptn remediation evaluation resulted in pass (100/100)"
    )
    assert events[-1]["type"] == "sh.keptn.event.production.remediation.finished"
    assert len(harness.provider.requests) == 1


async def test_control_seed_evaluation_fails_then_exhausted_and_escalated(harness: Harness) -> None:
    await harness.setup_website()
    context = await harness.send(seed_problem())
    await harness.advance(600)  # the legacy evaluation wait; the problem is still open
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "exhausted", seq.message
    actions = [r.action.action for r in harness.provider.requests]
    assert actions == ["toggle-feature"]  # exhaustion is not an action
    types = [e["type"] for e in await harness.events(context)]
    assert types.count("sh.selfheal.problem.escalated") == 1


async def test_control_v02_files_escalate_to_second_action(harness: Harness) -> None:
    await harness.setup_website("formats/shipyard.v0.2.yaml", "formats/remediation.v0.1.4.yaml")
    problem = seed_problem()
    problem["data"]["ProblemTitle"] = "Something else"
    context = await harness.send(problem)
    assert [r.action.action for r in harness.provider.requests] == ["escalate"]
    assert harness.provider.requests[0].action_index == 0
    await harness.advance(600)
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "exhausted"


async def test_control_v02_second_action_after_failed_evaluation(harness: Harness) -> None:
    two = harness_remediation_two_actions()
    await harness.setup_website("formats/shipyard.v0.2.yaml", "formats/remediation.v0.1.4.yaml")
    await harness.service.add_resources(
        "website", "production", "front-end", [("remediation.yaml", two)]
    )
    harness.provider.results = [ActionResult(message="flag on")]
    context = await harness.send(seed_problem())
    assert [r.action.name for r in harness.provider.requests] == ["Toggle feature flag"]
    await harness.advance(600)  # evaluation fails (problem open) → next action
    assert [r.action.name for r in harness.provider.requests] == [
        "Toggle feature flag",
        "Scale up",
    ]
    assert harness.provider.requests[1].action_index == 1
    await harness.send(resolved(seed_problem()))
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "remediated"
    assert "after action 2 of 2" in seq.message


async def test_control_resolved_before_action_stops_sequence(harness: Harness) -> None:
    await harness.setup_website("formats/shipyard.v0.2.yaml", "formats/remediation.v0.1.4.yaml")
    # RESOLVED arrives while the sequence waits behind another one of the same service
    first = await harness.send(seed_problem())
    other = seed_problem()
    other["id"] = "other"
    other["shkeptncontext"] = "ctx-two"
    other["data"] = {**other["data"], "PID": "second-problem"}
    second = await harness.send(other)
    queued = await harness.service.get_sequence(second)
    assert queued.state == "waiting"
    closing = resolved(other)
    await harness.send(closing)
    queued = await harness.service.get_sequence(second)
    assert queued.outcome == "resolved"
    assert len(harness.provider.requests) == 1
    assert (await harness.service.get_sequence(first)).state == "started"


def harness_remediation_two_actions() -> str:
    return """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: remediation-configuration
spec:
  remediations:
    - problemType: "Failure rate increase"
      actionsOnOpen:
        - name: Toggle feature flag
          action: toggle-feature
          description: Toggle feature flag EnableStaticContent to ON
          value:
            EnableStaticContent: "on"
        - name: Scale up
          action: webhook
          description: Ask for more replicas
          value: {}
"""


async def test_control_metrics_count_outcomes(harness: Harness) -> None:
    await harness.setup_website()
    context = await harness.send(seed_problem())
    await harness.send(resolved(seed_problem()))
    assert (await harness.service.get_sequence(context)).outcome == "remediated"
    text = (await harness.http.get("/metrics")).text
    counts = {
        (s.labels["sequence"], s.labels["outcome"]): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "selfheal_control_sequences_finished"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert counts == {("remediation", "remediated"): 1.0}
