"""Engine steps on SQLite: a step writes its sequence row once, as a compare-and-set at
commit, and rolls back whole when that loses; the inline connection checkpoints the WAL off
the event loop."""

from __future__ import annotations

import asyncio
import os
from contextvars import Context
from pathlib import Path
from typing import Any, cast

from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.control.steps import Steps
from selfheal.core import CloudEvent
from selfheal.storage import Database, inline


class _Events:
    """Stands in for the runtime's event log (not the SQL store: events publish directly)."""

    store: Any = None

    def __init__(self) -> None:
        self.published: list[CloudEvent] = []

    async def publish(self, event: CloudEvent) -> None:
        self.published.append(event)


async def _setup(tmp_path: Path) -> tuple[Database, Steps, SequenceStore, _Events]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/control.db")
    await db.migrate()
    events = _Events()
    steps = Steps(db, cast(Any, events))
    return db, steps, SequenceStore(db, steps), events


async def test_step_writes_the_row_once_and_rolls_back_on_a_lost_compare_and_set(
    tmp_path: Path,
) -> None:
    db, steps, store, events = await _setup(tmp_path)
    try:
        seq = Sequence(context="c1", project="p", stage="s", service="v", name="remediation")
        assert await store.insert(seq)
        async with steps.open():
            first = await store.save(seq, state="started")
            assert first is not None
            second = await store.save(first, phase="triggered", task_index=0)
            assert second is not None and second.version == 2
            assert await store.get("c1") == second
        stored = await store.get("c1")
        assert stored is not None and stored.version == 2 and stored.phase == "triggered"

        # another writer moves the row on while a step works from the old version
        async with steps.open():
            mine = await store.save(stored, phase="started")
            assert mine is not None
            other = SequenceStore(db)  # its own connection, outside the step: another replica
            elsewhere = other.save(stored, message="elsewhere")
            assert await asyncio.create_task(elsewhere, context=Context()) is not None
        after = await store.get("c1")
        assert after is not None and after.message == "elsewhere" and after.phase == "triggered"

        # a second save from a stale copy inside one step rolls the step back at once
        async with steps.open() as step:
            assert await store.save(after, phase="started") is not None
            await steps.publish(CloudEvent(type="t", source="test", data={}))
            await store.save(after, phase="idle")
            raise AssertionError("not reached")  # pragma: no cover
        assert step.events and not events.published
        last = await store.get("c1")
        assert last is not None and last.version == after.version
    finally:
        steps.close()
        await db.dispose()


async def test_inline_commits_checkpoint_the_wal(tmp_path: Path) -> None:
    db, steps, store, _ = await _setup(tmp_path)
    try:
        for i in range(inline.CHECKPOINT_EVERY * 2):
            async with steps.open():
                seq = Sequence(context=f"c{i}", project="p", stage="s", service="v", name="r")
                assert await store.insert(seq)
                await store.save(seq, state="started", data={"pad": "x" * 2000})
        writer = db.writer
        assert writer is not None
        if writer._checkpointing is not None:
            await writer._checkpointing
        # autocheckpoint is off on the inline connection: the rows reach the database file
        # only through `SqliteWriter._checkpoint`
        assert os.path.getsize(f"{tmp_path}/control.db") > 400 * 2000
    finally:
        steps.close()
        await db.dispose()
