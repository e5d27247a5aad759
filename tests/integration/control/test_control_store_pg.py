"""The control store's database guarantees on PostgreSQL (and SQLite): one occurrence, one
scope holder, one action claim, compare-and-set on sequence state."""

from __future__ import annotations

import asyncio

import pytest

from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.storage import Database


async def check_store(url: str) -> None:
    db = Database(url)
    await db.migrate()
    store = SequenceStore(db)
    try:
        claims = await asyncio.gather(
            *(store.claim_occurrence("p/s/v/PID", f"ctx-{i}", "test", 1.0) for i in range(20))
        )
        assert len([c for c in claims if c is not None]) == 1
        assert await store.claim_occurrence("p/s/v/PID", "again", "test", 2.0) is None
        assert await store.resolve_occurrence("p/s/v/PID", 3.0) is not None
        reopened = await store.claim_occurrence("p/s/v/PID", "ctx-new", "test", 4.0)
        assert reopened is not None and reopened.occurrence == 2

        holders = await asyncio.gather(*(store.acquire("p/s/v", f"c{i}") for i in range(10)))
        assert holders.count(True) == 1

        actions = await asyncio.gather(
            *(store.claim_action("ctx", 0, "p/s/v", "toggle-feature", 1.0) for _ in range(10))
        )
        assert actions.count(True) == 1

        seq = Sequence(context="ctx", project="p", stage="s", service="v", name="remediation")
        assert await store.insert(seq)
        assert not await store.insert(seq)
        first = await store.save(seq, state="started")
        assert first is not None and first.version == 1
        assert await store.save(seq, state="finished") is None  # stale version loses
    finally:
        await db.dispose()


async def test_control_store_sqlite(tmp_path: pytest.TempPathFactory) -> None:
    await check_store(f"sqlite+aiosqlite:///{tmp_path}/control.db")


@pytest.mark.postgres
async def test_control_store_postgres(pg_url: str) -> None:
    await check_store(pg_url)
