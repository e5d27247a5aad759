"""The seed's whole loop in one process: a flag, a Keptn project, a monitored website that
starts failing, the problem, one remediation sequence, the real toggle-feature provider, the
comments in Keptn's words, the resolve and the outcome, all read back through the public APIs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.system.loop import Loop, loop_settings, running
from tests.system.website import FLAG

STREAM = [
    "sh.keptn.event.production.remediation.triggered",
    "sh.keptn.event.get-action.triggered",
    "sh.keptn.event.get-action.started",
    "sh.keptn.event.get-action.finished",
    "sh.keptn.event.action.triggered",
    "sh.keptn.event.action.started",
    "sh.keptn.event.action.finished",
    "sh.keptn.event.evaluation.triggered",
    "sh.keptn.event.evaluation.started",
    "sh.keptn.event.evaluation.finished",
    "sh.keptn.event.production.remediation.finished",
]


async def open_problem(loop: Loop) -> dict[str, Any]:
    """Healthy warm-up, then the fault until the monitor opens a problem."""
    for _ in range(30):
        await loop.second()
    assert await loop.problems() == []
    assert await loop.sequences() == []
    loop.website.fault = True

    async def opened() -> bool:
        return bool(await loop.problems())

    await loop.run_until("Failure rate increase", opened, limit=30)
    [problem] = await loop.problems()
    assert problem["title"] == "Failure rate increase"
    return problem


async def heal(loop: Loop, problem_id: str) -> int:
    """Seconds of traffic until the problem is no longer open."""

    async def resolved() -> bool:
        return bool((await loop.get(f"/api/v2/problems/{problem_id}"))["status"] != "OPEN")

    return await loop.run_until("the resolve", resolved, limit=60)


async def test_seed_loop_toggles_the_flag_and_remediates(tmp_path: Path) -> None:
    async with running(loop_settings(tmp_path)) as loop:
        await loop.setup()
        problem = await open_problem(loop)

        # one sequence started, and the real provider flipped the flag in production
        [seq] = await loop.sequences()
        context = seq["shkeptncontext"]
        assert (seq["project"], seq["stage"], seq["service"]) == (
            "website",
            "production",
            "front-end",
        )
        assert seq["problemURL"].endswith(f"/problems/{problem['problemId']}")
        flag = await loop.container.flags.service.get_flag(FLAG)
        assert flag.env("production").enabled is True
        assert flag.env("development").enabled is False
        [flip] = [
            a
            for a in await loop.container.flags.service.history(FLAG)
            if a.environment == "production" and a.data
        ]
        assert await loop.flag_on()  # what the website's SDK now sees

        # healthy traffic (the CDN copy) resolves the problem; the evaluation passes at once
        assert await heal(loop, problem["problemId"]) <= 30
        [seq] = await loop.sequences()
        assert seq["state"] == "finished"
        assert seq["outcome"] == "remediated", seq["message"]
        assert "after action 1 of 1 (toggle-feature EnableStaticContent on)" in seq["message"]
        detail = await loop.get(f"/api/v1/sequences/{context}")
        assert detail["summary"].startswith("Remediated")

        # the Keptn event stream of the context, oldest first
        events = await loop.events(context)
        assert [e["type"] for e in events] == STREAM
        assert all(e["shkeptncontext"] == context for e in events)
        action_finished = events[6]["data"]
        assert action_finished["status"] == "succeeded" and action_finished["result"] == "pass"
        assert events[-1]["data"]["outcome"] == "remediated"
        # the intake's remediation.triggered has only the Problem URL; the engine's events both
        assert "Problem URL" in events[0]["data"]["labels"]
        for e in events[1:]:
            assert e["data"]["labels"]["Sequence URL"].endswith(f"/bridge/sequence/{context}")

        # every step as a comment on the monitor's problem, in Keptn's words
        comments = await loop.comments(problem["problemId"])
        assert "Keptn triggered action toggle-feature: toggle-feature EnableStaticContent on" in (
            comments
        )
        assert (
            "Keptn finished execution of action by: selfheal/toggle-feature "
            "Result: pass Status: succeeded"
        ) in comments
        assert "Keptn remediation evaluation resulted in pass (100/100)" in comments
        assert comments.count("Keptn remediation evaluation resulted in pass (100/100)") == 1

        # the fault is still on, but the static page no longer fails; nothing else started
        assert loop.website.fault and loop.website.history[-1] == (True, 0)
        for _ in range(10):
            await loop.second()
        assert len(await loop.sequences()) == 1
        assert len(await loop.problems()) == 1
        assert flip.created_by


async def test_seed_loop_comments_the_action_start(tmp_path: Path) -> None:
    async with running(loop_settings(tmp_path)) as loop:
        await loop.setup()
        problem = await open_problem(loop)
        comments = await loop.comments(problem["problemId"])
        assert "Keptn remediation action started execution by: selfheal/toggle-feature" in (
            comments
        )
