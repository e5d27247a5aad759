"""The control component's retention rules: only finished work goes."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from selfheal.bus import MemoryBus
from selfheal.control.component import DAY, retention_rules
from selfheal.control.leases import Lease
from selfheal.control.restore_store import Restore, RestoreStore
from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.control.specs import RestorePolicy
from selfheal.control.steps import Steps
from selfheal.core import ManualClock
from selfheal.runtime import EventLog
from selfheal.storage import Database, Pruner, SqlEventStore


async def test_control_retention_prunes_only_finished_work(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/retention.db")
    await db.migrate()
    clock = ManualClock()
    store = SequenceStore(db, lease=Lease("a", 10.0, clock))
    try:
        now = clock.now()
        for context, state in (("done", "finished"), ("open", "started")):
            seq = Sequence(context=context, project="p", stage="s", service="v", name="r")
            assert await store.insert(seq)
            assert await store.save(seq, state=state, updated=now)
        await store.claim_occurrence("P-done", "done", "x", now)
        await store.resolve_occurrence("P-done", now)
        await store.claim_occurrence("P-open", "open", "x", now)
        await store.claim_action("done", 0, "p/s/v", "noop", now)
        await store.finish_action(
            "done", 0, status="succeeded", result="pass", message="", data={}, now=now
        )
        await store.claim_action("open", 0, "p/s/v", "noop", now)
        steps = Steps(db, EventLog(SqlEventStore(db, now=clock.now), MemoryBus()))
        restores = RestoreStore(steps, Lease("a", 10.0, clock))
        for rid, state in (("done", "restored"), ("open", "held")):
            restore = Restore(
                id=rid,
                project="p",
                stage="s",
                service="v",
                problem_id=f"P-{rid}",
                flag="F",
                environment="production",
                flag_project="default",
                policy=RestorePolicy(),
                state=state,
                created=now,
                updated=now,
            )
            assert await restores.insert(restore)
        pruner = Pruner(db, clock.now, registry=CollectorRegistry())
        for rule in retention_rules(90):
            pruner.add(rule)
        await clock.advance(89 * DAY)
        assert set((await pruner.run_once()).values()) == {0}
        await clock.advance(2 * DAY)
        assert await pruner.run_once() == {
            "control_sequences": 1,
            "control_problems": 1,
            "control_actions": 1,
            "control_restores": 1,
        }
        assert await restores.get("done") is None and await restores.get("open") is not None
        assert await store.get("done") is None and await store.get("open") is not None
        assert await store.latest_occurrence("P-open") is not None
        assert await store.get_action("open", 0) is not None
    finally:
        await db.dispose()
