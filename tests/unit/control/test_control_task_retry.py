"""A built-in task whose run fails (the database restarting under it) is tried again by the
replica holding the sequence, instead of leaving the sequence to its start timeout."""

from __future__ import annotations

import asyncio

from selfheal.control.sequences import Sequence
from selfheal.core import CloudEvent
from tests.unit.control.conftest import Harness, seed_problem


async def test_a_failed_get_action_run_is_tried_again_and_the_action_runs_once(
    harness: Harness,
) -> None:
    await harness.setup_website()
    engine = harness.container.control.engine
    real = engine.handlers["get-action"]
    runs: list[str] = []

    async def fails_once(seq: Sequence, event: CloudEvent) -> None:
        runs.append(seq.context)
        if len(runs) == 1:
            raise ConnectionError("server closed the connection unexpectedly")
        await real(seq, event)

    engine.handlers["get-action"] = fails_once
    context = await harness.send(seed_problem())
    for _ in range(500):  # the retry comes after 0.5 s (real time, bounded wait)
        if harness.provider.requests:
            break
        await asyncio.sleep(0.01)
    await harness.settle()
    assert runs == [context, context]
    assert len(harness.provider.requests) == 1
    types = [e["type"] for e in await harness.events(context)]
    assert types.count("sh.keptn.event.get-action.finished") == 1
    assert "sh.keptn.event.action.finished" in types
