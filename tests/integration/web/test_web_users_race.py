"""Two replicas starting together on an empty PostgreSQL database both add the configured UI
users: the one whose INSERT meets the other's row learns it exists, and starts anyway."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from selfheal.core import ManualClock
from selfheal.storage import Database
from selfheal.web.sessions import Sessions

pytestmark = pytest.mark.postgres


async def test_a_user_another_replica_adds_meanwhile_is_not_an_error(pg_url: str) -> None:
    db = Database(pg_url)
    await db.migrate()
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        sessions = Sessions(db, ManualClock())
        # the other replica's INSERT is in, not yet committed: this one's look finds no
        # row, and its INSERT waits on the unique key until the other commits
        with psycopg.connect(plain) as other:
            other.execute(
                "INSERT INTO web_users (name, password_hash, role, created_at)"
                " VALUES ('alice', 'x', 'viewer', 0)"
            )
            adding = asyncio.create_task(sessions.add_user("alice", "a-long-password", "admin"))
            await asyncio.sleep(0.5)
            assert not adding.done()  # waiting on the other's row
            other.commit()
        assert await asyncio.wait_for(adding, 10) is False
        assert await sessions.role_of("alice") == "viewer"  # the first one's row stays
    finally:
        await db.dispose()
