"""Exactly one monitor evaluates a given service: leadership per service.

On SQLite there is one process, so it leads everything (`LocalLeaderElection`). On
PostgreSQL each service maps to a session-level advisory lock held on one dedicated
connection (`PgAdvisoryLeaderElection`); if that process dies, its connection closes,
PostgreSQL frees the locks and another monitor takes over on its next tick.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from selfheal.storage import Database

log = logging.getLogger(__name__)


class LeaderElection(Protocol):
    async def acquire(self, key: str) -> bool:
        """True while this process leads `key` (idempotent; call it every tick)."""
        ...

    async def release(self, key: str) -> None: ...

    async def close(self) -> None: ...


class LocalLeaderElection:
    """The single process leads every key."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    async def acquire(self, key: str) -> bool:
        self.held.add(key)
        return True

    async def release(self, key: str) -> None:
        self.held.discard(key)

    async def close(self) -> None:
        self.held.clear()


def lock_id(key: str) -> int:
    """A stable signed 64-bit advisory-lock id for a key."""
    digest = hashlib.blake2b(f"selfheal.monitor:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PgAdvisoryLeaderElection:
    def __init__(self, database: Database) -> None:
        # A connection of its own, outside the pool: closing it must end the session (and
        # so free the locks), which a pooled connection returned to the pool would not.
        self._engine: AsyncEngine = create_async_engine(database.url, poolclass=NullPool)
        self._conn: AsyncConnection | None = None
        self._held: set[str] = set()
        self._lock = asyncio.Lock()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._held.clear()
            self._conn = await self._engine.connect()
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def acquire(self, key: str) -> bool:
        async with self._lock:
            try:
                conn = await self._connection()
                if key in self._held:
                    await conn.execute(text("SELECT 1"))
                    return True
                result = await conn.execute(
                    text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id(key)}
                )
                got = bool(result.scalar_one())
            except SQLAlchemyError as exc:
                log.warning("leader election unavailable: %s", exc.__class__.__name__)
                await self._drop()
                return False
            if got:
                self._held.add(key)
            return got

    async def release(self, key: str) -> None:
        async with self._lock:
            if key not in self._held or self._conn is None:
                return
            self._held.discard(key)
            try:
                await self._conn.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id(key)}
                )
            except SQLAlchemyError:
                await self._drop()

    async def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            try:
                await self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.closed and self._held:
                # hand leadership over now: the server frees a closed session's locks only
                # once its backend has noticed the disconnect, which can lag the close
                try:
                    await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                except SQLAlchemyError:
                    pass
            await self._drop()
        await self._engine.dispose()


def open_leader_election(database: Database) -> LeaderElection:
    if database.dialect == "postgresql":
        return PgAdvisoryLeaderElection(database)
    return LocalLeaderElection()
