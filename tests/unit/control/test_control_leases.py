"""Lease, timer, claim and recurrence transitions of the control store, on a manual clock.

Two `SequenceStore`s with different replica ids share one database: replica `a` and
replica `b`. Time moves only when the test moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from selfheal.control.engine import Locks
from selfheal.control.leases import Lease
from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.core import ManualClock
from selfheal.storage import Database

TTL = 10.0
SCOPE = "p/s/v"


@dataclass
class Replicas:
    clock: ManualClock
    a: SequenceStore
    b: SequenceStore


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/leases.db")
    await db.migrate()
    clock = ManualClock()
    try:
        yield Replicas(
            clock,
            SequenceStore(db, lease=Lease("a", TTL, clock)),
            SequenceStore(db, lease=Lease("b", TTL, clock)),
        )
    finally:
        await db.dispose()


def new_seq(context: str, **values: object) -> Sequence:
    return Sequence(
        context=context, project="p", stage="s", service="v", name="remediation", **values
    )  # type: ignore[arg-type]


async def test_control_lease_written_with_every_change(replicas: Replicas) -> None:
    r = replicas
    assert await r.a.insert(new_seq("c1"))
    stored = await r.a.get("c1")
    assert stored is not None and stored.owner == "a"
    assert stored.lease_until == r.clock.now() + TTL
    await r.clock.advance(4)
    saved = await r.b.save(stored, state="started")  # whoever writes the sequence holds it
    assert saved is not None and saved.owner == "b" and saved.lease_until == r.clock.now() + TTL


async def test_control_live_lease_is_never_taken_over(replicas: Replicas) -> None:
    r = replicas
    await r.a.insert(new_seq("c1", state="started"))
    await r.clock.advance(TTL - 1)
    assert await r.b.take_over() == []
    assert await r.a.heartbeat() == 1  # a is alive: renewed for another TTL
    await r.clock.advance(TTL - 1)
    assert await r.b.take_over() == []
    assert (await r.b.take_over(previous_life=True)) == []  # b never held it


async def test_control_expired_lease_is_taken_over_once(replicas: Replicas) -> None:
    r = replicas
    await r.a.insert(new_seq("c1", state="started"))
    await r.a.insert(new_seq("c2"))  # waiting sequences are leased too
    await r.clock.advance(TTL + 0.1)  # a died: no heartbeat
    taken = await r.b.take_over()
    assert sorted(s.context for s in taken) == ["c1", "c2"]
    assert {s.owner for s in taken} == {"b"}
    assert await r.b.take_over() == []  # b holds them now
    assert await r.a.heartbeat() == 0  # a's late heartbeat renews nothing it lost
    seq = await r.a.get("c1")
    assert seq is not None and seq.owner == "b"


async def test_control_takeover_skips_own_and_finished(replicas: Replicas) -> None:
    r = replicas
    await r.b.insert(new_seq("mine", state="started"))
    await r.a.insert(new_seq("done", state="finished"))
    await r.clock.advance(TTL * 3)
    assert await r.b.take_over() == []  # its own (late heartbeat) and a finished one


async def test_control_recover_takes_own_sequences_of_a_previous_life(replicas: Replicas) -> None:
    r = replicas
    await r.a.insert(new_seq("c1", state="started"))
    await r.b.insert(new_seq("c2", state="started"))
    await r.clock.advance(1)  # both leases live
    taken = await r.a.take_over(previous_life=True)
    assert [s.context for s in taken] == ["c1"]  # never b's live one


async def test_control_release_hands_leases_over_at_once(replicas: Replicas) -> None:
    r = replicas
    await r.a.insert(new_seq("c1", state="started"))
    await r.a.claim_action("c1", 0, SCOPE, "noop", r.clock.now())
    await r.a.release_leases()
    assert [s.context for s in await r.b.take_over()] == ["c1"]
    assert await r.b.settle_orphaned_action(
        "c1", 0, message="gone", now=r.clock.now(), previous_life=False
    )


async def test_control_due_timers_are_rows(replicas: Replicas) -> None:
    r = replicas
    now = r.clock.now()
    await r.a.insert(new_seq("soon", state="started", phase="delayed", deadline=now + 5))
    await r.a.insert(new_seq("later", state="started", phase="delayed", deadline=now + 50))
    await r.b.insert(new_seq("theirs", state="started", phase="delayed", deadline=now + 5))
    assert await r.a.due() == []
    await r.clock.advance(5)
    assert await r.a.due() == [("soon", now + 5)]  # only its own
    assert await r.b.due() == [("theirs", now + 5)]


async def test_control_stalled_waiting_sequence_found(replicas: Replicas) -> None:
    r = replicas
    await r.a.insert(new_seq("running", state="started"))
    await r.a.insert(new_seq("queued"))
    assert await r.a.acquire(SCOPE, "running")
    assert await r.a.stalled() == []  # the scope is held
    await r.a.release(SCOPE, "running")
    assert await r.a.stalled() == ["queued"]
    assert await r.b.stalled() == []


async def test_control_action_claim_lease(replicas: Replicas) -> None:
    r = replicas
    now = r.clock.now()
    assert await r.a.claim_action("c1", 0, SCOPE, "noop", now)
    assert not await r.b.claim_action("c1", 0, SCOPE, "noop", now)  # a runs it
    # a live runner's claim is not settled, not even by its own next life within the lease
    assert not await r.b.settle_orphaned_action(
        "c1", 0, message="x", now=r.clock.now(), previous_life=False
    )
    await r.clock.advance(TTL - 1)
    assert await r.a.heartbeat() == 1
    await r.clock.advance(TTL - 1)
    assert not await r.b.settle_orphaned_action(
        "c1", 0, message="x", now=r.clock.now(), previous_life=False
    )
    await r.clock.advance(2)  # a died
    assert await r.b.settle_orphaned_action(
        "c1", 0, message="runner died", now=r.clock.now(), previous_life=False
    )
    record = await r.b.get_action("c1", 0)
    assert record is not None and record.status == "unknown" and record.result == "fail"
    assert record.finished is not None and record.owner == "a"
    # settled once: nobody settles or claims it again
    assert not await r.b.settle_orphaned_action(
        "c1", 0, message="again", now=r.clock.now(), previous_life=True
    )
    assert not await r.a.claim_action("c1", 0, SCOPE, "noop", r.clock.now())


async def test_control_own_claim_of_a_previous_life_is_settled(replicas: Replicas) -> None:
    r = replicas
    assert await r.a.claim_action("c1", 0, SCOPE, "noop", r.clock.now())
    assert await r.a.settle_orphaned_action(
        "c1", 0, message="restarted", now=r.clock.now(), previous_life=True
    )


async def test_control_finished_action_is_never_settled(replicas: Replicas) -> None:
    r = replicas
    assert await r.a.claim_action("c1", 0, SCOPE, "noop", r.clock.now())
    await r.a.finish_action(
        "c1", 0, status="succeeded", result="pass", message="", data={}, now=r.clock.now()
    )
    await r.clock.advance(TTL * 2)
    assert not await r.b.settle_orphaned_action(
        "c1", 0, message="x", now=r.clock.now(), previous_life=True
    )


# recurrence rule --------------------------------------------------------------------------
async def test_control_same_event_never_opens_twice(replicas: Replicas) -> None:
    r = replicas
    claim = r.a.claim_occurrence
    now = r.clock.now()
    assert await claim("P1", "ctx1", "mon", now, event_id="src e1", reopen_seconds=60)
    assert await claim("P1", "ctx2", "mon", now, event_id="src e1", reopen_seconds=60) is None
    assert await r.a.resolve_occurrence("P1", now + 1)
    await r.clock.advance(3600)
    later = r.clock.now()
    # the opening event redelivered an hour after the RESOLVED: still a repeat
    assert await claim("P1", "ctx3", "mon", later, event_id="src e1", reopen_seconds=60) is None


async def test_control_new_event_id_while_open_is_a_repeat(replicas: Replicas) -> None:
    r = replicas
    now = r.clock.now()
    assert await r.a.claim_occurrence("P1", "c1", "mon", now, event_id="e1")
    assert await r.b.claim_occurrence("P1", "c2", "mon", now, event_id="e2") is None


async def test_control_unnumbered_recurrence_needs_the_reopen_period(replicas: Replicas) -> None:
    r = replicas
    t0 = r.clock.now()
    assert await r.a.claim_occurrence("P1", "c1", "dt", t0, event_id="e1", reopen_seconds=60)
    assert await r.a.resolve_occurrence("P1", t0 + 10)
    within = t0 + 30
    assert (
        await r.a.claim_occurrence(
            "P1", "c2", "dt", within, event_id="e2", emitted=within, reopen_seconds=60
        )
        is None
    )
    after = t0 + 71
    # emitted before the RESOLVED (a late redelivery of another copy): a repeat
    assert (
        await r.a.claim_occurrence(
            "P1", "c3", "dt", after, event_id="e3", emitted=t0 + 5, reopen_seconds=60
        )
        is None
    )
    occ = await r.a.claim_occurrence(
        "P1", "c4", "dt", after, event_id="e4", emitted=after, reopen_seconds=60
    )
    assert occ is not None and occ.occurrence == 2 and occ.context == "c4"


async def test_control_numbered_recurrence_follows_the_number(replicas: Replicas) -> None:
    r = replicas
    t0 = r.clock.now()
    claim = r.a.claim_occurrence
    assert await claim("P1", "c1", "mon", t0, event_id="o1", number=1, reopen_seconds=60)
    assert await r.a.resolve_occurrence("P1", t0 + 1)
    # the monitor's reopen (occurrence 2) right after the RESOLVED is a new occurrence ...
    occ = await claim("P1", "c2", "mon", t0 + 2, event_id="o2", number=2, reopen_seconds=60)
    assert occ is not None and occ.occurrence == 2
    assert await r.a.resolve_occurrence("P1", t0 + 3)
    # ... a copy of occurrence 1 or 2 with a new id, even much later, is not
    for number in (1, 2):
        again = await claim(
            "P1", "c3", "mon", t0 + 999, event_id=f"x{number}", number=number, reopen_seconds=60
        )
        assert again is None


async def test_control_concurrent_claims_of_one_occurrence(replicas: Replicas) -> None:
    r = replicas
    now = r.clock.now()
    results = await asyncio.gather(
        *(
            (r.a if i % 2 else r.b).claim_occurrence("P1", f"c{i}", "x", now, event_id=f"e{i}")
            for i in range(10)
        )
    )
    assert len([x for x in results if x is not None]) == 1


# engine locks ------------------------------------------------------------------------------
async def test_control_locks_bounded_and_kept_while_held() -> None:
    locks = Locks()
    order: list[str] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("c"):
            entered.set()
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        await entered.wait()
        async with locks.hold("c"):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await entered.wait()
    await asyncio.sleep(0)
    assert len(locks) == 1  # held, with a waiter: kept
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]
    assert len(locks) == 0  # nobody holds or waits: gone
    for i in range(100):
        async with locks.hold(f"ctx-{i}"):
            pass
    assert len(locks) == 0
