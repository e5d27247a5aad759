"""The monitor's tables (SQLAlchemy Core) and the SQL implementation of its store seams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any, Protocol

import sqlalchemy as sa

from selfheal.core import CloudEvent
from selfheal.monitor.problems import Comment, EventsOf, Problem, ProblemQuery
from selfheal.monitor.sources import Sample
from selfheal.storage import Database
from selfheal.storage.inline import Prepared


class EventOutbox(Protocol):
    """Where a problem change's events go (the runtime's event log): written into the
    change's own transaction, put on the bus once it committed."""

    async def append_in(self, conn: Any, events: list[CloudEvent]) -> list[CloudEvent]: ...

    async def released(self, events: list[CloudEvent]) -> None: ...


metadata = sa.MetaData()
problems_table = sa.Table(
    "monitor_problems",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64)),
    sa.Column("pid", sa.String(64)),
    sa.Column("display_id", sa.String(64)),
    sa.Column("title", sa.String(512)),
    sa.Column("service", sa.String(255)),
    sa.Column("impacted_entity", sa.String(512)),
    sa.Column("severity", sa.String(64)),
    sa.Column("status", sa.String(16)),
    sa.Column("start", sa.Float),
    sa.Column("end", sa.Float),
    sa.Column("tags", sa.Text),
    sa.Column("evidence", sa.Text),
    sa.Column("source", sa.String(64)),
    sa.Column("external_key", sa.String(512)),
    sa.Column("occurrence", sa.Integer),
    sa.Column("updated", sa.Float),
    sa.Column("version", sa.Integer),
    sa.Column("masked_by", sa.String(255)),
    sa.Column("masked_context", sa.String(255)),
    sa.Column("mitigated_since", sa.Float),
)
comments_table = sa.Table(
    "monitor_comments",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64)),
    sa.Column("problem_id", sa.String(64)),
    sa.Column("message", sa.Text),
    sa.Column("context", sa.String(255)),
    sa.Column("author", sa.String(255)),
    sa.Column("created", sa.Float),
)
services_table = sa.Table(
    "monitor_services",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("spec", sa.Text),  # the declaration as JSON; NULL: a tombstone (deleted)
    sa.Column("updated", sa.Float),
    sa.Column("revision", sa.BigInteger),
)
revision_table = sa.Table(
    "monitor_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger),
)
samples_table = sa.Table(
    "monitor_sli_samples",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(128)),
    sa.Column("time", sa.Float),
    sa.Column("requests", sa.Float),
    sa.Column("errors", sa.Float),
    sa.Column("buckets", sa.Text),
    sa.Column("origin_requests", sa.Float, nullable=True),
    sa.Column("origin_errors", sa.Float, nullable=True),
)


def _row(p: Problem) -> dict[str, Any]:
    return {
        "id": p.id,
        "pid": p.pid,
        "display_id": p.display_id,
        "title": p.title,
        "service": p.service,
        "impacted_entity": p.impacted_entity,
        "severity": p.severity,
        "status": p.status,
        "start": p.start,
        "end": p.end,
        "tags": json.dumps(p.tags),
        "evidence": json.dumps(p.evidence),
        "source": p.source,
        "external_key": p.external_key,
        "occurrence": p.occurrence,
        "updated": p.updated,
        "version": p.version,
        "masked_by": p.masked_by,
        "masked_context": p.masked_context,
        "mitigated_since": p.mitigated_since,
    }


def _problem(r: Any) -> Problem:
    return Problem(
        id=r.id,
        pid=r.pid,
        display_id=r.display_id,
        title=r.title,
        service=r.service,
        impacted_entity=r.impacted_entity,
        severity=r.severity,
        status=r.status,
        start=r.start,
        end=r.end,
        tags=json.loads(r.tags),
        evidence=json.loads(r.evidence),
        source=r.source,
        external_key=r.external_key,
        occurrence=r.occurrence,
        updated=r.updated,
        version=r.version,
        masked_by=r.masked_by,
        masked_context=r.masked_context,
        mitigated_since=r.mitigated_since,
    )


class SqlProblemStore:
    """Problems, comments, API-declared services and SLI samples in SQLite or PostgreSQL."""

    def __init__(self, database: Database, *, events: EventOutbox | None = None) -> None:
        self._db = database
        self._events = events
        t = problems_table
        key: Any = sa.bindparam("key")
        self._get = Prepared(
            sa.select(t)
            .where(
                sa.or_(
                    t.c.id == key, t.c.display_id == key, t.c.pid == key, t.c.external_key == key
                )
            )
            .limit(1)
        )

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        writer = self._db.writer
        if writer is not None:
            async with writer.transaction() as inline:
                yield inline
            return
        async with self._db.engine.begin() as conn:
            yield conn

    async def _emit_in(
        self, conn: Any, problem: Problem, events: EventsOf | None
    ) -> list[CloudEvent]:
        if events is None or self._events is None:
            return []
        return await self._events.append_in(conn, list(events(problem)))

    async def create(self, problem: Problem, events: EventsOf | None = None) -> Problem:
        t = problems_table
        async with self._transaction() as conn:
            result = await conn.execute(t.insert().values(**_row(problem)))
            seq = result.inserted_primary_key[0] if result.inserted_primary_key else None
            display = f"P-{seq}"
            await conn.execute(t.update().where(t.c.id == problem.id).values(display_id=display))
            created = problem.with_(display_id=display)
            fresh = await self._emit_in(conn, created, events)
        if self._events is not None:
            await self._events.released(fresh)
        return created

    async def save(self, problem: Problem, events: EventsOf | None = None) -> Problem | None:
        """Compare-and-set on `version`; the events commit with the change, or not at all."""
        t = problems_table
        saved = problem.with_(version=problem.version + 1)
        async with self._transaction() as conn:
            done = await conn.execute(
                t.update()
                .where(t.c.id == problem.id, t.c.version == problem.version)
                .values(**_row(saved))
            )
            if not done.rowcount:
                return None
            fresh = await self._emit_in(conn, saved, events)
        if self._events is not None:
            await self._events.released(fresh)
        return saved

    async def get(self, key: str) -> Problem | None:
        writer = self._db.writer
        if writer is not None:
            # on a SQLite file, read on the loop thread (an indexed lookup takes tens of µs;
            # a round trip to aiosqlite's thread waits a turn of a busy loop): the
            # integrations look a problem up for every remediation step
            with writer.reader() as inline:
                row = (await inline.run(self._get, {"key": key})).first()
        else:
            async with self._db.engine.connect() as conn:
                row = (await conn.execute(self._get.core, {"key": key})).first()
        return _problem(row) if row else None

    async def get_many(self, keys: Collection[str]) -> dict[str, Problem]:
        """Each key (an id, display id, PID or external key, as `get` takes it) that names a
        problem, in one indexed query (a console list asks about a page of problems)."""
        wanted = {k for k in keys if k}
        if not wanted:
            return {}
        t = problems_table
        found: dict[str, Problem] = {}
        chunk = sorted(wanted)
        async with self._db.engine.connect() as conn:
            for start in range(0, len(chunk), 500):
                part = chunk[start : start + 500]
                stmt = sa.select(t).where(
                    sa.or_(
                        t.c.id.in_(part),
                        t.c.display_id.in_(part),
                        t.c.pid.in_(part),
                        t.c.external_key.in_(part),
                    )
                )
                for row in (await conn.execute(stmt)).all():
                    problem = _problem(row)
                    for key in (row.id, row.display_id, row.pid, row.external_key):
                        if key in wanted:
                            found.setdefault(key, problem)
        return found

    async def find(self, query: ProblemQuery) -> tuple[list[Problem], int]:
        t = problems_table
        conds: list[Any] = []
        if query.status:
            conds.append(t.c.status == query.status)
        if query.statuses:
            conds.append(t.c.status.in_(query.statuses))
        if query.service:
            conds.append(t.c.service == query.service)
        if query.since is not None:
            conds.append(sa.func.coalesce(t.c.end, t.c.updated) >= query.since)
        where = sa.and_(sa.true(), *conds)
        stmt = (
            sa.select(t)
            .where(where)
            .order_by(t.c.start.desc(), t.c.seq.desc())
            .offset(query.offset)
            .limit(query.limit)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(t).where(where))
            ).scalar_one()
        return [_problem(r) for r in rows], int(total)

    async def add_comment(self, comment: Comment) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(
                comments_table.insert().values(
                    id=comment.id,
                    problem_id=comment.problem_id,
                    message=comment.message,
                    context=comment.context,
                    author=comment.author,
                    created=comment.created,
                )
            )

    async def comments(self, problem_id: str) -> list[Comment]:
        t = comments_table
        stmt = sa.select(t).where(t.c.problem_id == problem_id).order_by(t.c.seq)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            Comment(r.id, r.problem_id, r.message, r.context, r.author, r.created) for r in rows
        ]

    async def update_comment(self, comment: Comment) -> bool:
        t = comments_table
        async with self._db.engine.begin() as conn:
            done = await conn.execute(
                t.update()
                .where(t.c.problem_id == comment.problem_id, t.c.id == comment.id)
                .values(message=comment.message, context=comment.context)
            )
        return bool(done.rowcount)

    async def delete_comment(self, problem_id: str, comment_id: str) -> bool:
        t = comments_table
        async with self._db.engine.begin() as conn:
            done = await conn.execute(
                t.delete().where(t.c.problem_id == problem_id, t.c.id == comment_id)
            )
        return bool(done.rowcount)

    async def _bump(self, conn: Any) -> int:
        r = revision_table
        await conn.execute(r.update().where(r.c.id == 1).values(value=r.c.value + 1))
        return int((await conn.execute(sa.select(r.c.value).where(r.c.id == 1))).scalar_one())

    async def save_services(self, specs: list[tuple[str, dict[str, Any]]], now: float) -> int:
        """Add or replace API-declared services in one transaction; the new revision."""
        t = services_table
        async with self._transaction() as conn:
            revision = await self._bump(conn)
            for name, spec in specs:
                await conn.execute(t.delete().where(t.c.name == name))
                await conn.execute(
                    t.insert().values(
                        name=name, spec=json.dumps(spec), updated=now, revision=revision
                    )
                )
        return revision

    async def save_service(self, name: str, spec: dict[str, Any], now: float) -> int:
        return await self.save_services([(name, spec)], now)

    async def delete_service(self, name: str, now: float = 0.0) -> int:
        """Leave a tombstone (so a service of monitor.yaml goes too, on every replica)."""
        t = services_table
        async with self._transaction() as conn:
            revision = await self._bump(conn)
            await conn.execute(t.delete().where(t.c.name == name))
            await conn.execute(
                t.insert().values(name=name, spec=None, updated=now, revision=revision)
            )
        return revision

    async def service_revision(self) -> int:
        """One indexed read: the revision of the last service change (0: none yet)."""
        r = revision_table
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(sa.select(r.c.value).where(r.c.id == 1))).scalar()
        return int(value or 0)

    async def service_changes(self) -> tuple[int, dict[str, dict[str, Any] | None]]:
        """The revision and every API change by name (None: deleted)."""
        t, r = services_table, revision_table
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(sa.select(r.c.value).where(r.c.id == 1))).scalar()
            rows = (await conn.execute(sa.select(t.c.name, t.c.spec).order_by(t.c.name))).all()
        return int(value or 0), {
            row.name: json.loads(row.spec) if row.spec is not None else None for row in rows
        }

    async def services(self) -> list[dict[str, Any]]:
        _, changes = await self.service_changes()
        return [spec for spec in changes.values() if spec is not None]

    # SLI samples ------------------------------------------------------------------------
    async def add_samples(self, rows: list[tuple[str, Sample]]) -> None:
        """Raw scraped counters, many services at once (one multi-row INSERT)."""
        if not rows:
            return
        values = [
            {
                "service": service,
                "time": s.time,
                "requests": s.requests,
                "errors": s.errors,
                "buckets": json.dumps(s.buckets),
                "origin_requests": None if s.origin is None else s.origin[0],
                "origin_errors": None if s.origin is None else s.origin[1],
            }
            for service, s in rows
        ]
        async with self._transaction() as conn:
            await conn.execute(samples_table.insert(), values)

    async def samples(
        self, service: str, start: float, end: float, limit: int = 100_000
    ) -> list[Sample]:
        """The last sample at or before `start` and every one after it up to `end`."""
        t = samples_table
        before = (
            sa.select(t.c.time)
            .where(t.c.service == service, t.c.time <= start)
            .order_by(t.c.time.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            sa.select(
                t.c.time,
                t.c.requests,
                t.c.errors,
                t.c.buckets,
                t.c.origin_requests,
                t.c.origin_errors,
            )
            .where(
                t.c.service == service,
                t.c.time >= sa.func.coalesce(before, start),
                t.c.time <= end,
            )
            .order_by(t.c.time)
            .limit(limit)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            Sample(
                r.time,
                r.requests,
                r.errors,
                tuple((float(le), float(c)) for le, c in json.loads(r.buckets)),
                None
                if r.origin_requests is None or r.origin_errors is None
                else (r.origin_requests, r.origin_errors),
            )
            for r in rows
        ]
