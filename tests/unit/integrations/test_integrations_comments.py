"""Write-back of comments onto the monitor's problems: a known problem is looked up once."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from selfheal.core import CloudEvent, NotFound
from selfheal.delivery import MemoryDeliveryStore, Outbox, RetryPolicy
from selfheal.integrations.comments import ProblemComments
from tests.unit.integrations.fakes import RecordingClock


class Monitor:
    """The two monitor calls write-back makes, on a set of known problems."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.lookups: list[str] = []
        self.comments: list[tuple[str, str]] = []

    async def get_problem(self, problem_id: str) -> Any:
        self.lookups.append(problem_id)
        if problem_id not in self.known:
            raise NotFound(f"problem {problem_id} not found")
        return {"id": problem_id}

    async def add_comment(
        self, problem_id: str, message: str, *, context: str = "", author: str = ""
    ) -> Any:
        if problem_id not in self.known:
            raise NotFound(f"problem {problem_id} not found")
        self.comments.append((problem_id, message))
        return {}


def comment(problem: str, message: str, context: str | None = None) -> CloudEvent:
    return CloudEvent(
        type="sh.selfheal.integrations.comment",
        source="tests/comments",
        data={"problem": problem, "message": message},
    ).with_extensions(shkeptncontext=context)


def write_back(monitor: Monitor) -> ProblemComments:
    outbox = Outbox(
        MemoryDeliveryStore(),
        RecordingClock(),
        policy=RetryPolicy(1, 1.0, 1.0),
        registry=CollectorRegistry(),
    )
    return ProblemComments(monitor, outbox, ui_url="http://ui")


async def test_every_step_is_written_and_a_known_problem_is_looked_up_once() -> None:
    monitor = Monitor({"P-1"})
    comments = write_back(monitor)
    for i in range(3):
        await comments.handle(comment("P-1", f"step {i}"))
    assert monitor.comments == [("P-1", "step 0"), ("P-1", "step 1"), ("P-1", "step 2")]
    assert monitor.lookups == ["P-1"]
    # a problem the monitor does not know is not written, and asked about again each time
    # (it may be created meanwhile); once it is known, its comments are written
    await comments.handle(comment("P-2", "early"))
    await comments.handle(comment("P-2", "still early"))
    monitor.known.add("P-2")
    await comments.handle(comment("P-2", "now"))
    assert monitor.comments[3:] == [("P-2", "now")]
    assert monitor.lookups == ["P-1", "P-2", "P-2", "P-2"]
    # a known problem deleted meanwhile: the delivery finds out and gives up
    monitor.known.discard("P-1")
    await comments.handle(comment("P-1", "after deletion"))
    assert ("P-1", "after deletion") not in monitor.comments


async def test_a_problem_unknown_at_a_sequences_first_step_is_not_asked_again_for_it() -> None:
    """Another tool's problem (the monitor never knows it): one look-up per sequence."""
    monitor = Monitor(set())
    comments = write_back(monitor)
    for step in ("get-action", "action", "evaluation"):
        await comments.handle(comment("DT-7", f"{step} done", context="ctx-1"))
    assert monitor.lookups == ["DT-7"]
    await comments.handle(comment("DT-7", "next sequence", context="ctx-2"))
    assert monitor.lookups == ["DT-7", "DT-7"]
    assert monitor.comments == []
