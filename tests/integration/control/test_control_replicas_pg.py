"""Two control planes (two `build()` containers) on one PostgreSQL database, each with its own
memory bus, so the only thing they share is the database: one is killed mid-sequence (its
tasks cancelled, its leases left to expire) and the other finishes the sequence from the
committed state — its timer and its action claim included — without running an action twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.control import ActionRequest, ActionResult, ControlSettings
from selfheal.control.sequences import Sequence, actions_table
from selfheal.core import CloudEvent
from selfheal.settings import Settings

pytestmark = pytest.mark.postgres

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: replicas}
spec:
  stages:
    - name: production
      sequences:
        - name: remediation
          tasks:
            - name: get-action
            - name: action
            - name: evaluation
              triggeredAfter: "2s"
"""
REMEDIATION = """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: replicas}
spec:
  remediations:
    - problemType: default
      actionsOnOpen:
        - {name: Do nothing, action: noop, description: nothing at all}
"""
ESCALATIONS = 1000
LEASE = {"lease_seconds": 1.0, "heartbeat_seconds": 0.2, "poll_seconds": 0.1}


@dataclass
class GatedProvider:
    """Records requests; with `gate`, holds each one until the gate opens."""

    names: tuple[str, ...] = ("noop",)
    requests: list[ActionRequest] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def execute(self, request: ActionRequest) -> ActionResult:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        return ActionResult(message="did nothing")


@dataclass
class Replica:
    container: Container
    provider: GatedProvider


async def wait_for(what: str, probe: Callable[[], Awaitable[Any]], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def make_replica(
    pg_url: str, settings: Settings
) -> Callable[[str, GatedProvider], Awaitable[Replica]]:
    started: list[Container] = []

    async def make(name: str, provider: GatedProvider) -> Replica:
        control = ControlSettings(replica_id=name, **LEASE)  # type: ignore[arg-type]
        config = settings.model_copy(update={"database_url": pg_url, "control": control})
        container = await build(config, bus=MemoryBus())
        await container.start()
        started.append(container)
        container.control.service.register_action_provider(provider)
        return Replica(container, provider)

    make.started = started  # type: ignore[attr-defined]
    return make


@pytest.fixture
async def replicas(
    make_replica: Callable[[str, GatedProvider], Awaitable[Replica]],
) -> AsyncIterator[Callable[[str, GatedProvider], Awaitable[Replica]]]:
    yield make_replica
    for container in reversed(make_replica.started):  # type: ignore[attr-defined]
        await container.stop()


async def setup_project(replica: Replica) -> None:
    service = replica.container.control.service
    await service.create_project("website", SHIPYARD)
    await service.create_service("website", "front-end")
    await service.add_resources(
        "website", "production", "front-end", [("remediation.yaml", REMEDIATION)]
    )


async def open_problem(replica: Replica, pid: str = "4711") -> str:
    event = CloudEvent(
        type="sh.keptn.events.problem",
        source="dynatrace",
        id=f"open-{pid}",
        data={
            "State": "OPEN",
            "PID": pid,
            "ProblemTitle": "Failure rate increase",
            "Tags": "keptn_project:website, keptn_stage:production, keptn_service:front-end",
        },
    ).with_extensions(shkeptncontext=f"ctx-{pid}")
    await replica.container.runtime.events.publish(event)
    return f"ctx-{pid}"


async def sequence(replica: Replica, context: str) -> Sequence | None:
    return await replica.container.control.sequences.get(context)


async def ledger(replica: Replica, context: str) -> list[Any]:
    """The remediation's actions (escalations, run after the sequence ends, left out)."""
    t = actions_table
    async with replica.container.runtime.database.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(t).where(t.c.context == context, t.c.action_index < ESCALATIONS)
        )
        return list(rows.all())


async def kill(replica: Replica) -> None:
    """Stop the control plane without handing anything back, as SIGKILL would."""
    await replica.container.control.stop(release=False)


async def test_control_killed_replicas_timer_finished_by_the_other(replicas: Any) -> None:
    a = await replicas("a", GatedProvider())
    b = await replicas("b", GatedProvider())
    await setup_project(a)
    context = await open_problem(a)

    async def delayed() -> bool:
        seq = await sequence(a, context)
        return seq is not None and seq.phase == "delayed"

    await wait_for("the action to finish on a", delayed)
    await kill(a)  # the evaluation's timer dies with it

    async def finished() -> Sequence | None:
        seq = await sequence(b, context)
        return seq if seq is not None and seq.state == "finished" else None

    done = await wait_for("b to finish the sequence", finished)
    assert done.owner == "b"
    assert done.outcome == "exhausted"  # the problem is still open: evaluation failed
    assert len(a.provider.requests) == 1 and b.provider.requests == []
    rows = await ledger(b, context)
    assert [(r.action_index, r.status) for r in rows] == [(0, "succeeded")]


async def test_control_killed_mid_action_never_runs_it_twice(replicas: Any) -> None:
    a = await replicas("a", GatedProvider(gate=asyncio.Event()))
    b = await replicas("b", GatedProvider())
    await setup_project(a)
    context = await open_problem(a)

    async def running() -> bool:
        return bool(a.provider.requests)

    await wait_for("a to run the action", running)
    await kill(a)  # mid-action: whether it took effect is unknown

    async def finished() -> Sequence | None:
        seq = await sequence(b, context)
        return seq if seq is not None and seq.state == "finished" else None

    done = await wait_for("b to finish the sequence", finished)
    assert done.owner == "b"
    assert b.provider.requests == []  # never a second run of action 0
    rows = await ledger(b, context)
    assert [(r.action_index, r.status, r.owner) for r in rows] == [(0, "unknown", "a")]


async def test_control_claim_leased_past_its_sequence_is_closed_by_the_taker(
    replicas: Any,
) -> None:
    """The dead replica's claim lease outlives its sequence lease (they are renewed in two
    transactions): the taker closes the claim when that lease runs out, seconds later — not
    at the task's timeout (900 s) — and never runs the action again."""
    a = await replicas("a", GatedProvider(gate=asyncio.Event()))
    b = await replicas("b", GatedProvider())
    await setup_project(a)
    context = await open_problem(a)

    async def running() -> bool:
        return bool(a.provider.requests)

    await wait_for("a to run the action", running)
    await kill(a)
    t = actions_table
    async with a.container.runtime.database.engine.begin() as conn:
        await conn.execute(  # a's last heartbeat renewed its claim well after its sequence
            sa.update(t)
            .where(t.c.context == context, t.c.owner == "a")
            .values(lease_until=t.c.lease_until + 3 * LEASE["lease_seconds"])
        )

    async def taken() -> bool:
        seq = await sequence(b, context)
        return seq is not None and seq.owner == "b"

    await wait_for("b to take the sequence over", taken)

    async def finished() -> Sequence | None:
        seq = await sequence(b, context)
        return seq if seq is not None and seq.state == "finished" else None

    done = await wait_for("b to finish the sequence", finished)
    assert b.provider.requests == []  # never a second run of action 0
    rows = await ledger(b, context)
    assert [(r.action_index, r.status, r.owner) for r in rows] == [(0, "unknown", "a")]
    assert done.outcome == "exhausted", done.message


async def test_control_starting_replica_leaves_a_live_action_alone(replicas: Any) -> None:
    gate = asyncio.Event()
    a = await replicas("a", GatedProvider(gate=gate))
    await setup_project(a)
    context = await open_problem(a)

    async def running() -> bool:
        return bool(a.provider.requests)

    await wait_for("a to run the action", running)
    b = await replicas("b", GatedProvider())  # starts and recovers while a is alive
    await asyncio.sleep(3 * LEASE["lease_seconds"])  # several of b's polls
    assert b.provider.requests == []
    seq = await sequence(b, context)
    assert seq is not None and seq.owner == "a" and seq.state == "started"
    gate.set()

    async def delayed() -> bool:
        seq = await sequence(b, context)
        return seq is not None and seq.phase == "delayed"

    await wait_for("a to finish the action", delayed)
    rows = await ledger(b, context)
    assert [(r.action_index, r.status, r.owner) for r in rows] == [(0, "succeeded", "a")]
    assert len(a.provider.requests) == 1


async def test_control_resolved_for_a_dead_owner_is_applied(replicas: Any) -> None:
    a = await replicas("a", GatedProvider(gate=asyncio.Event()))
    b = await replicas("b", GatedProvider())
    await setup_project(a)
    context = await open_problem(a)

    async def running() -> bool:
        return bool(a.provider.requests)

    await wait_for("a to run the action", running)
    await kill(a)
    resolved = CloudEvent(
        type="sh.keptn.events.problem",
        source="dynatrace",
        id="resolved-4711",
        data={
            "State": "RESOLVED",
            "PID": "4711",
            "ProblemTitle": "Failure rate increase",
            "Tags": "keptn_project:website, keptn_stage:production, keptn_service:front-end",
        },
    )
    await b.container.runtime.events.publish(resolved)

    async def finished() -> Sequence | None:
        seq = await sequence(b, context)
        return seq if seq is not None and seq.state == "finished" else None

    done = await wait_for("b to finish the sequence", finished)
    assert done.outcome == "remediated", done.message  # the evaluation saw it closed
    assert b.provider.requests == []
