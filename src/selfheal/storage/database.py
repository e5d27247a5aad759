"""The async SQLAlchemy engine for SQLite (embedded) and PostgreSQL (scale-out), and migrations."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from selfheal.core import SelfhealError

if TYPE_CHECKING:
    from selfheal.storage.inline import SqliteWriter

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5E1F_4EA1_0001
"""The PostgreSQL advisory lock key held while migrations run (one installation per DB)."""


class StorageError(SelfhealError):
    """The database could not be reached or refused an operation."""


def normalize_url(url: str) -> str:
    """Pick the async driver for a plain URL (`postgresql://` → psycopg, `sqlite://` → aiosqlite)."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


def redact(url: str) -> str:
    """The URL with any password hidden, for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database url>"


PING_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is handed out
(a restarted server drops every connection). SQLAlchemy's `pool_pre_ping` pinged on every
checkout: a round trip of its own for each of the control plane's many short transactions.
A connection back in the pool for less than this was in use a moment ago; should the server
have gone meanwhile, its first statement fails as the server's going would have anyway, and
SQLAlchemy then replaces every connection of the pool."""


def _idle_from(_dbapi: Any, record: Any) -> None:
    record.info["idle_from"] = time.monotonic()


def _ping_if_idle(dbapi: Any, record: Any, _proxy: Any) -> None:
    idle_from = record.info.get("idle_from")
    if idle_from is None or time.monotonic() - idle_from < PING_IDLE_SECONDS:
        return
    try:
        cursor = dbapi.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as exc:  # the pool drops it and checks out another (or connects anew)
        raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


class Database:
    """Owns the engine; `dialect` is 'sqlite' or 'postgresql'."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            db = parsed.database
            if db and db != ":memory:" and not db.startswith("file:"):
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            if not db or db == ":memory:":
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "checkin", _idle_from)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        self._writer: SqliteWriter | None = None
        self._writer_made = False

    @property
    def writer(self) -> SqliteWriter | None:
        """The inline writer of a SQLite file (`selfheal.storage.inline`), shared by every
        hot write path of this process; None on PostgreSQL and in-memory SQLite."""
        if not self._writer_made:
            from selfheal.storage.inline import SqliteWriter

            self._writer = SqliteWriter.for_url(self.url) if self.dialect == "sqlite" else None
            self._writer_made = True
        return self._writer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A short write transaction: the SQLite file's inline writer when there is one
        (so it queues with the hot paths instead of waiting in SQLite's busy handler), else
        the async engine."""
        writer = self.writer
        if writer is not None:
            async with writer.transaction() as inline:
                yield inline
            return
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Any]:
        """A connection for reads outside any transaction (sees what is committed)."""
        writer = self.writer
        if writer is not None:
            with writer.reader() as inline:
                yield inline
            return
        async with self.engine.connect() as conn:
            yield conn

    async def migrate(self) -> None:
        """Bring the schema to the newest revision of every context (`alembic upgrade heads`)."""
        try:
            async with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    # replicas starting together on an empty database take turns: the
                    # first creates the schema, the others then find it at head
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                await conn.run_sync(_upgrade)
        except SQLAlchemyError as exc:
            raise StorageError(
                f"migration failed on {redact(self.url)}: {exc.__class__.__name__}"
            ) from exc

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except (SQLAlchemyError, OSError):
            return False

    async def dispose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._writer_made = False
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    sqlite_pragmas(dbapi_conn, "journal_mode=WAL", *SQLITE_PRAGMAS, "busy_timeout=30000")


SQLITE_PRAGMAS = ("synchronous=NORMAL", "foreign_keys=ON")
"""Every SQLite connection of ours: WAL without an fsync per commit, and foreign keys."""


def sqlite_pragmas(dbapi_conn: Any, *pragmas: str) -> None:
    cursor = dbapi_conn.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "heads")
