from __future__ import annotations

from sqlalchemy import event

from selfheal.monitor.problems import Comment, ProblemQuery, new_problem
from selfheal.monitor.store import SqlProblemStore
from selfheal.storage import Database


async def test_monitor_store_on_postgres(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        await db.migrate()
        store = SqlProblemStore(db)
        p = await store.create(
            new_problem(
                title="Failure rate increase",
                service="web",
                severity="ERROR",
                start=10.0,
                tags={"keptn_project": "website"},
                evidence=[{"failure_rate_pct": 50.0}],
            )
        )
        assert p.display_id == "P-1"
        assert (await store.get(p.pid)) == p
        assert await store.save(p.with_(status="RESOLVED", end=20.0)) is not None
        found, total = await store.find(ProblemQuery(status="RESOLVED"))
        assert total == 1 and found[0].end == 20.0
        await store.add_comment(Comment("c1", p.id, "hello", "keptn", "bot", 11.0))
        assert [c.message for c in await store.comments(p.id)] == ["hello"]
        edited = Comment("c1", p.id, "hello again", "ops", "bot", 11.0)
        assert await store.update_comment(edited)
        assert await store.comments(p.id) == [edited]
        assert not await store.update_comment(Comment("c1", "other", "x", "", "bot", 1.0))
        assert not await store.delete_comment("other", "c1")
        assert await store.delete_comment(p.id, "c1")
        assert await store.comments(p.id) == [] and not await store.delete_comment(p.id, "c1")
        await store.save_service("web", {"name": "web"}, 1.0)
        assert await store.services() == [{"name": "web"}]
    finally:
        await db.dispose()


async def test_monitor_store_gets_many_problems_in_one_query(pg_url: str) -> None:
    """A console list's problems by any of their keys, in one statement; unknown keys are
    left out, and each key maps to the problem it names."""
    db = Database(pg_url)
    statements: list[str] = []
    try:
        await db.migrate()
        store = SqlProblemStore(db)
        made = [
            await store.create(
                new_problem(
                    title="Failure rate increase",
                    service=f"s{n}",
                    severity="ERROR",
                    start=10.0 + n,
                    tags={},
                    evidence=[],
                )
            )
            for n in range(3)
        ]
        event.listen(
            db.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2])
        )
        keys = [made[0].pid, made[1].display_id, made[2].id, "no-such-problem", ""]
        found = await store.get_many(keys)
        assert len(statements) == 1
        assert found == {made[0].pid: made[0], made[1].display_id: made[1], made[2].id: made[2]}
        assert await store.get_many([]) == {}
    finally:
        await db.dispose()
