from __future__ import annotations

from selfheal.monitor.leaders import LocalLeaderElection, PgAdvisoryLeaderElection
from selfheal.storage import Database


async def test_monitor_local_leader_leads_everything() -> None:
    leader = LocalLeaderElection()
    assert await leader.acquire("a") and await leader.acquire("b")
    await leader.close()


async def test_monitor_one_leader_per_service_on_postgres(pg_url: str) -> None:
    db = Database(pg_url)
    first, second = PgAdvisoryLeaderElection(db), PgAdvisoryLeaderElection(db)
    try:
        assert await first.acquire("front-end")
        assert await first.acquire("front-end")  # idempotent while held
        assert not await second.acquire("front-end")
        assert await second.acquire("checkout")
        assert not await first.acquire("checkout")
        await first.close()  # the process died: its session's locks are gone
        assert await second.acquire("front-end")
        await second.release("checkout")
        assert await first.acquire("checkout")
    finally:
        await first.close()
        await second.close()
        await db.dispose()
