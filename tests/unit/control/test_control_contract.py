"""Keptn's remediation contract to the letter: what an `action.triggered` carries, how an
exhausted or broken remediation ends (issue 12, items 1–3)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.control import ActionRequest, ActionResult
from selfheal.control.engine import carry, task_payload
from selfheal.control.specs import Task
from tests.support.paths import SEED
from tests.unit.control.conftest import Harness, b64, seed_problem

V02 = "formats/shipyard.v0.2.yaml"
TWO_FLAGS = """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: remediation-configuration
spec:
  remediations:
    - problemType: "Failure rate increase"
      actionsOnOpen:
        - name: First
          action: toggle-feature
          description: FlagA on
          value:
            FlagA: "on"
        - name: Second
          action: toggle-feature
          description: FlagB on
          value:
            FlagB: "on"
"""
NO_MATCH = """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: remediation-configuration
spec:
  remediations:
    - problemType: "Something else entirely"
      actionsOnOpen:
        - name: First
          action: toggle-feature
          value:
            FlagA: "on"
"""


async def project(harness: Harness, remediation: str | None) -> None:
    await harness.setup_website(V02, "formats/remediation.v0.1.4.yaml")
    if remediation is not None:
        await harness.service.add_resources(
            "website", "production", "front-end", [("remediation.yaml", remediation)]
        )


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


# item 1 -------------------------------------------------------------------------------------
async def test_control_contract_second_action_carries_only_its_own(harness: Harness) -> None:
    await project(harness, TWO_FLAGS)
    context = await harness.send(seed_problem())
    await harness.advance(600)  # the evaluation fails (problem open) → the second action
    events = await harness.events(context)
    triggered = of_type(events, "sh.keptn.event.action.triggered")
    assert [t["data"]["action"] for t in triggered] == [
        {"name": "First", "action": "toggle-feature", "description": "FlagA on",
         "value": {"FlagA": "on"}},
        {"name": "Second", "action": "toggle-feature", "description": "FlagB on",
         "value": {"FlagB": "on"}},
    ]  # fmt: skip
    assert [r.action.flag_changes() for r in harness.provider.requests] == [
        {"FlagA": True},
        {"FlagB": True},
    ]


values = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=5), st.sampled_from(["on", "off"]), max_size=4
) | st.text(max_size=10)
actions = st.fixed_dictionaries(
    {
        "name": st.text(max_size=8),
        "action": st.sampled_from(["toggle-feature", "webhook", "scale"]),
        "description": st.text(max_size=8),
        "value": values,
    }
)
results = st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)


@given(first=actions, second=actions, result=results, extra=results)
@settings(max_examples=200, deadline=None)
def test_control_contract_action_never_leaks_into_the_next(
    first: dict[str, Any], second: dict[str, Any], result: dict[str, str], extra: dict[str, str]
) -> None:
    """Whatever two actions get-action chooses, the second `action.triggered` carries the
    second one exactly: nothing of the first action, its `.finished` or the evaluation."""
    data: dict[str, Any] = {"problem": {"PID": "1"}, "labels": {"a": "b"}}
    data = carry(data, "get-action", {"action": first, "get-action": {"actionIndex": 1}})
    assert task_payload(data, Task(name="action"))["action"] == first
    data = carry(data, "action", {"action": {**first, "result": result}, "status": "succeeded"})
    data = carry(data, "evaluation", {"evaluation": {"result": "fail", **extra}})
    data = carry(data, "get-action", {"action": second, "get-action": {"actionIndex": 2}})
    assert task_payload(data, Task(name="action"))["action"] == second
    assert data["get-action"] == {"actionIndex": 2}
    # nothing chosen (exhausted): the previous choice does not stay behind
    data = carry(data, "get-action", {"get-action": {"actionIndex": 2, "exhausted": True}})
    assert "action" not in data


# item 2 -------------------------------------------------------------------------------------
async def test_control_contract_no_match_is_no_action(harness: Harness) -> None:
    await project(harness, NO_MATCH)
    context = await harness.send(seed_problem())
    events = await harness.events(context)
    assert of_type(events, "sh.keptn.event.action.triggered") == []
    assert harness.provider.requests == []
    [ga] = of_type(events, "sh.keptn.event.get-action.finished")
    assert (ga["data"]["status"], ga["data"]["result"]) == ("succeeded", "fail")
    [done] = of_type(events, "sh.keptn.event.production.remediation.finished")
    assert done["data"]["result"] == "fail"
    [escalated] = of_type(events, "sh.selfheal.problem.escalated")
    assert escalated["data"]["reason"] == "exhausted"
    assert escalated["data"]["problem"]["PID"] == seed_problem()["data"]["PID"]
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "exhausted"


async def test_control_contract_used_up_is_no_action(harness: Harness) -> None:
    await project(harness, TWO_FLAGS)
    context = await harness.send(seed_problem())
    await harness.advance(600)
    await harness.advance(600)  # both evaluations fail: the actions are used up
    events = await harness.events(context)
    acted = [
        e["data"]["action"]["action"] for e in of_type(events, "sh.keptn.event.action.triggered")
    ]
    assert acted == ["toggle-feature", "toggle-feature"]
    assert of_type(events, "sh.keptn.event.get-action.finished")[-1]["data"]["result"] == "fail"
    [done] = of_type(events, "sh.keptn.event.production.remediation.finished")
    assert (done["data"]["status"], done["data"]["result"]) == ("succeeded", "fail")
    assert len(of_type(events, "sh.selfheal.problem.escalated")) == 1


async def test_control_contract_explicit_escalate_stays_an_action(harness: Harness) -> None:
    await project(harness, None)  # the seed's 0.1.4 file: `default` → action: escalate
    problem = seed_problem()
    problem["data"]["ProblemTitle"] = "Something else"
    context = await harness.send(problem)
    events = await harness.events(context)
    triggered = of_type(events, "sh.keptn.event.action.triggered")
    assert [t["data"]["action"]["action"] for t in triggered] == ["escalate"]
    assert [r.action.action for r in harness.provider.requests] == ["escalate"]


# item 3 -------------------------------------------------------------------------------------
async def test_control_contract_no_remediation_file_is_errored(harness: Harness) -> None:
    r = await harness.http.post(
        "/api/controlPlane/v1/project",
        json={"projectName": "website", "shipyard": b64((SEED / V02).read_text())},
    )
    assert r.status_code == 201, r.text
    r = await harness.http.post(
        "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
    )
    assert r.status_code == 201, r.text
    context = await harness.send(seed_problem())
    events = await harness.events(context)
    [ga] = of_type(events, "sh.keptn.event.get-action.finished")
    assert (ga["data"]["status"], ga["data"]["result"]) == ("errored", "fail")
    [done] = of_type(events, "sh.keptn.event.production.remediation.finished")
    assert (done["data"]["status"], done["data"]["result"]) == ("errored", "fail")
    assert of_type(events, "sh.keptn.event.action.triggered") == []


class Broken:
    names = ("toggle-feature",)

    async def execute(self, request: ActionRequest) -> ActionResult:
        raise RuntimeError("the provider fell over")


async def test_control_contract_failing_provider_is_errored(harness: Harness) -> None:
    await project(harness, TWO_FLAGS)
    harness.service.register_action_provider(Broken())
    context = await harness.send(seed_problem())
    events = await harness.events(context)
    [finished] = of_type(events, "sh.keptn.event.action.finished")
    assert (finished["data"]["status"], finished["data"]["result"]) == ("errored", "fail")
    [done] = of_type(events, "sh.keptn.event.production.remediation.finished")
    assert (done["data"]["status"], done["data"]["result"]) == ("errored", "fail")
    seq = await harness.service.get_sequence(context)
    assert seq.outcome == "errored"


# item 4 -------------------------------------------------------------------------------------
async def test_control_contract_triggeredid_and_gitcommitid(harness: Harness) -> None:
    await project(harness, TWO_FLAGS)
    problem = seed_problem()
    problem["data"]["State"] = "OPEN"
    context = await harness.send(problem)
    resolved = {**problem, "id": problem["id"] + "-r"}
    resolved["data"] = {**problem["data"], "State": "RESOLVED"}
    await harness.send(resolved)
    events = await harness.events(context)
    by_id = {e["id"]: e for e in events}
    [seq_triggered] = of_type(events, "sh.keptn.event.production.remediation.triggered")
    [seq_finished] = of_type(events, "sh.keptn.event.production.remediation.finished")
    assert seq_finished["triggeredid"] == seq_triggered["id"]
    for e in events:
        if e["type"].endswith((".started", ".finished")) and e is not seq_finished:
            parent = by_id[e["triggeredid"]]
            assert parent["type"].rsplit(".", 1)[0] == e["type"].rsplit(".", 1)[0]
        # every engine-emitted .triggered (the intake's event starts the sequence)
        engine = e["source"] == "selfheal/control" and e is not seq_triggered
        if engine and e["type"].endswith(".triggered"):
            assert e["gitcommitid"].isdigit(), e
    assert seq_finished["gitcommitid"].isdigit()
    for t in of_type(events, "sh.keptn.event.action.triggered"):
        assert t["data"]["labels"]["Sequence URL"].endswith(context)
