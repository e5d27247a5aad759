"""The seed loop with Jira, Slack and Dynatrace at local stand-ins (integrations.yaml in a temp
dir), then with Jira failing: the remediation must not notice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from selfheal.integrations.jira import adf_text
from tests.system.loop import Loop, loop_settings, running
from tests.system.standins import StandIns, standins
from tests.system.test_system_seed_loop import heal, open_problem
from tests.system.website import FLAG

SUMMARY = "[PROBLEM] website - front-end - production - Failure rate increase"
STEPS = (
    "Keptn triggered action toggle-feature: toggle-feature EnableStaticContent on",
    "Keptn finished execution of action by: selfheal/toggle-feature Result: pass Status: succeeded",
    "Keptn remediation evaluation resulted in pass (100/100)",
)
STARTED = "Keptn remediation action started execution by: selfheal/toggle-feature"
DEADLINE = 30.0
"""Simulated seconds from the first failing request to the outcome, with or without faults."""


async def remediate(loop: Loop) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Set up the seed, fail until the problem opens, heal; (problem, sequence, seconds)."""
    await loop.setup()
    problem = await open_problem(loop)
    started = loop.website.history.index(next(h for h in loop.website.history if h[1]))
    fault_at = loop.clock.now() - (len(loop.website.history) - started)
    await heal(loop, problem["problemId"])
    [seq] = await loop.sequences()
    assert seq["outcome"] == "remediated", seq["message"]
    flag = await loop.container.flags.service.get_flag(FLAG)
    assert flag.env("production").enabled
    [flip] = [a for a in await loop.container.flags.service.history(FLAG) if a.environment]
    # the flag flips in the second the problem opens, whatever the integrations are doing
    assert flip.created_at - problem["startTime"] / 1000 <= 1.0
    return problem, seq, seq["updated"] - fault_at


def problem_thread(s: StandIns) -> dict[str, Any]:
    """The Slack message that opened the problem's thread."""
    roots = [m for m in s.slack.messages if "thread_ts" not in m and SUMMARY in str(m["text"])]
    assert len(roots) == 1, s.slack.messages
    return roots[0]


async def test_integrations_ticket_thread_and_transition(tmp_path: Path) -> None:
    async with standins() as s, running(loop_settings(tmp_path, s.settings(tmp_path))) as loop:
        problem, seq, seconds = await remediate(loop)
        assert seconds <= DEADLINE

        # Jira: exactly one ticket, labelled, a comment per step, Done on resolve
        [(key, issue)] = s.jira.issues.items()
        fields = issue["fields"]
        assert fields["summary"] == SUMMARY
        assert {
            "keptn_project:website",
            "keptn_stage:production",
            "keptn_service:front-end",
            f"selfheal_problem:{problem['pid']}",
        } <= set(fields["labels"])
        assert f"/problems/{problem['problemId']}" in str(fields["description"])
        comments = [adf_text(c["body"]) for c in issue["comments"]]
        for step in STEPS:
            assert sum(c.startswith(step) for c in comments) == 1, (step, comments)
        assert any(c.startswith("Problem resolved: Failure rate increase") for c in comments)
        assert any(c.startswith("Keptn remediation finished. Result: pass") for c in comments)
        assert issue["status"] == "Done"
        creates = [r for r in s.jira.requests if r.method == "POST" and r.path.endswith("/issue")]
        assert len(creates) == 1 and key == "OPS-1"

        # Slack: the problem's thread, one reply per step, no empty messages
        root = problem_thread(s)
        replies = [m for m in s.slack.messages if m.get("thread_ts") == root["ts"]]
        texts = [str(m["text"]) for m in replies]
        for step in STEPS:
            assert sum(step in t for t in texts) == 1, (step, texts)
        assert any("Problem resolved" in t for t in texts)
        assert any("Keptn remediation finished. Result: pass" in t for t in texts)
        assert all(
            t.removeprefix(":gear:").strip()
            for t in map(str, (m["text"] for m in s.slack.messages))
        )

        # Dynatrace: the problem is the monitor's own, so nothing goes to the tenant
        assert s.dynatrace.requests == []

        # every delivery succeeded, and the deliveries API knows them by problem and context
        assert (await loop.get("/api/v1/deliveries/dead-letters"))["deliveries"] == []
        by_problem = await loop.get("/api/v1/deliveries", problem=problem["pid"])
        assert {d["integration"] for d in by_problem["deliveries"]} >= {
            "jira",
            "slack",
            "problem-comments",
        }
        by_context = await loop.get("/api/v1/deliveries", context=seq["shkeptncontext"])
        assert by_context["totalCount"] > 0


async def test_integrations_action_start_reaches_ticket_and_thread(tmp_path: Path) -> None:
    async with standins() as s, running(loop_settings(tmp_path, s.settings(tmp_path))) as loop:
        await remediate(loop)
        [issue] = s.jira.issues.values()
        assert any(adf_text(c["body"]).startswith(STARTED) for c in issue["comments"])
        assert [m for m in s.slack.messages if "thread_ts" not in m] == [problem_thread(s)]


@pytest.mark.parametrize("fault", ["500", "429", "hang"])
async def test_integrations_jira_failing_never_delays_the_remediation(
    tmp_path: Path, fault: str
) -> None:
    async with standins() as s:
        if fault == "500":
            s.jira.fail(1000, status=500)
        elif fault == "429":
            s.jira.fail(1000, status=429, retry_after=3)
        else:
            s.jira.fail(1000, delay=2.0)  # past the 0.5 s timeout
        settings = loop_settings(tmp_path, s.settings(tmp_path, attempts=3, timeout=0.5))
        async with asyncio.timeout(90), running(settings) as loop:
            loop.retries_on_clock = True
            problem, seq, seconds = await remediate(loop)
            assert seconds <= DEADLINE

            dead = (await loop.get("/api/v1/deliveries/dead-letters"))["deliveries"]
            assert {d["integration"] for d in dead} == {"jira"}
            assert all(d["status"] == "dead" and d["problem"] == problem["pid"] for d in dead)
            calls = {d["kind"]: d for d in dead if d["kind"].startswith("issue.")}
            assert set(calls) == {"issue.find", "issue.create"}
            for call in calls.values():  # retried, then dead-lettered
                assert call["attempts"] == 3, call
                if fault == "hang":
                    assert call["error"] == "timed out", call
                else:
                    assert call["http_status"] == int(fault), call
            # with no ticket, the step comments are dead letters at once (kept for a retry)
            rest = [d for d in dead if d["kind"] not in calls]
            assert rest and all(d["attempts"] == 1 for d in rest)
            assert all("no Jira issue exists" in d["error"] for d in rest)
            assert len(s.jira.requests) == 6 and s.jira.issues == {}

            # the other integrations and the write-back went on as usual
            root = problem_thread(s)
            texts = [str(m["text"]) for m in s.slack.messages if m.get("thread_ts") == root["ts"]]
            for step in STEPS:
                assert sum(step in t for t in texts) == 1, (step, texts)
            comments = await loop.comments(problem["problemId"])
            assert all(step in comments for step in STEPS)
            assert seq["outcome"] == "remediated"

            # Jira is back: a manual retry of the dead letter opens the one ticket
            s.jira.faults.clear()
            r = await loop.http.post(
                f"/api/v1/deliveries/{calls['issue.create']['id']}/retry", headers=loop.admin
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "succeeded"
            [issue] = s.jira.issues.values()
            assert issue["fields"]["summary"] == SUMMARY
