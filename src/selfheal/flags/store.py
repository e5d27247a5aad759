"""Where flags live: SQLAlchemy Core tables (SQLite or PostgreSQL) behind a small protocol.

A flag is kept as one JSON document per (project, name); every change is written in the same
transaction as its audit event, whose sequence number is the global revision SDKs see, and
(given an `Outbox`, the event store) as the change's CloudEvent with its outbox row: the
change and its event commit together, and the outbox relay publishes it if this process
cannot (the bus is away, or the process died right after the commit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from selfheal.core import CloudEvent, Unavailable, iso_from_epoch
from selfheal.flags.errors import FlagExists, FlagNotFound, SegmentNotFound
from selfheal.flags.model import ApiToken, AuditEvent, Flag, MetricsBucket, Segment
from selfheal.storage import Database

metadata = sa.MetaData()
flags_table = sa.Table(
    "flags",
    metadata,
    sa.Column("project", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("archived", sa.Boolean, nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
)
segments_table = sa.Table(
    "flag_segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("doc", sa.Text, nullable=False),
)
audit_table = sa.Table(
    "flag_audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("project", sa.String(100)),
    sa.Column("feature", sa.String(100)),
    sa.Column("environment", sa.String(100)),
    sa.Column("pre_data", sa.Text),
    sa.Column("data", sa.Text),
)
tokens_table = sa.Table(
    "flag_tokens",
    metadata,
    sa.Column("secret_hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("project", sa.String(100), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("prefix", sa.String(255), nullable=False),
)
users_table = sa.Table(
    "flag_users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
meta_table = sa.Table(
    "flag_meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
metrics_table = sa.Table(
    "flag_metrics",
    metadata,
    sa.Column("feature", sa.String(100), primary_key=True),
    sa.Column("app_name", sa.String(255), primary_key=True),
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("bucket_start", sa.Integer, primary_key=True),
    sa.Column("yes", sa.Integer, nullable=False),
    sa.Column("no", sa.Integer, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Audit:
    """An audit event before it has its sequence number."""

    type: str
    created_by: str
    created_at: float
    project: str | None = None
    feature: str | None = None
    environment: str | None = None
    pre_data: Any = None
    data: Any = None


Mutation = Callable[[Flag | None], tuple[Flag, Audit | None]]
EVENT_PREFIX = "selfheal.flags."
SOURCE = "selfheal/flags"


def change_event(event: AuditEvent) -> CloudEvent:
    """The CloudEvent of an audit event: the same every time it is made (its id is the
    revision, its time the audit's), so the one stored with the change and the one put on
    the bus after the commit are one event to every consumer."""
    return CloudEvent(
        type=EVENT_PREFIX + event.type,
        source=SOURCE,
        data={**event.to_dict(), "revision": event.id},
        id=f"flags-{event.id}",
        time=iso_from_epoch(event.created_at),
    )


@runtime_checkable
class Outbox(Protocol):
    """Appends events inside the caller's transaction (`SqlEventStore.append_in`)."""

    async def append_in(self, conn: Any, events: list[CloudEvent]) -> list[CloudEvent]: ...


class FlagStore(Protocol):
    async def load(self) -> tuple[list[Flag], list[Segment], int]: ...

    async def mutate(self, project: str, name: str, change: Mutation) -> AuditEvent | None: ...

    async def put_segment(
        self, segment: Segment | None, audit: Audit, *, delete: int | None = None
    ) -> tuple[Segment | None, AuditEvent]: ...

    async def audit(
        self,
        *,
        feature: str | None = None,
        project: str | None = None,
        environment: str | None = None,
        actors: tuple[str, ...] | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]: ...


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _audit_row(row: Any) -> AuditEvent:
    return AuditEvent(
        id=int(row.seq),
        type=row.type,
        created_by=row.created_by,
        created_at=float(row.created_at),
        project=row.project,
        feature=row.feature,
        environment=row.environment,
        pre_data=json.loads(row.pre_data) if row.pre_data else None,
        data=json.loads(row.data) if row.data else None,
    )


def _segment(row: Any) -> Segment:
    from selfheal.flags.model import Constraint

    doc = json.loads(row.doc)
    return Segment(
        id=int(row.id),
        name=row.name,
        description=doc.get("description"),
        project=doc.get("project"),
        constraints=tuple(Constraint.from_dict(c) for c in doc.get("constraints") or ()),
    )


class SqlFlagStore:
    """The flags context's tables on the shared database."""

    def __init__(self, database: Database, outbox: Outbox | None = None) -> None:
        self._db = database
        self._pg = database.dialect == "postgresql"
        self.outbox = outbox
        """Where each change's CloudEvent is written, in the change's transaction; without
        one the service publishes it after the commit (an event store with no outbox)."""

    async def _append(self, conn: Any, audit: Audit) -> AuditEvent:
        result = await conn.execute(
            audit_table.insert().values(
                type=audit.type,
                created_by=audit.created_by,
                created_at=audit.created_at,
                project=audit.project,
                feature=audit.feature,
                environment=audit.environment,
                pre_data=_dump(audit.pre_data),
                data=_dump(audit.data),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        seq = int(key[0])
        event = AuditEvent(seq, **{k: getattr(audit, k) for k in Audit.__slots__})
        if self.outbox is not None:
            await self.outbox.append_in(conn, [change_event(event)])
        return event

    async def revision(self) -> int:
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(sa.select(sa.func.max(audit_table.c.seq)))).scalar()
        return int(value or 0)

    async def load(self) -> tuple[list[Flag], list[Segment], int]:
        async with self._db.engine.connect() as conn:
            rev = (await conn.execute(sa.select(sa.func.max(audit_table.c.seq)))).scalar()
            rows = (await conn.execute(sa.select(flags_table.c.doc))).all()
            segs = (await conn.execute(sa.select(segments_table))).all()
        flags = [Flag.from_dict(json.loads(r.doc)) for r in rows]
        return flags, [_segment(s) for s in segs], int(rev or 0)

    async def get(self, project: str, name: str) -> Flag | None:
        t = flags_table
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.c.doc).where(t.c.project == project, t.c.name == name)
                )
            ).first()
        return Flag.from_dict(json.loads(row.doc)) if row else None

    async def mutate(self, project: str, name: str, change: Mutation) -> AuditEvent | None:
        """Read, change and write one flag and its audit event in one transaction.
        `Unavailable` when the database cannot be reached (restarting): nothing changed."""
        try:
            return await self._mutate(project, name, change)
        except (OperationalError, InterfaceError) as exc:
            raise Unavailable(f"the flag store is unavailable: {exc.orig or exc}") from exc

    async def _mutate(self, project: str, name: str, change: Mutation) -> AuditEvent | None:
        t = flags_table
        async with self._db.engine.begin() as conn:
            query = sa.select(t.c.doc).where(t.c.project == project, t.c.name == name)
            if self._pg:
                query = query.with_for_update()
            row = (await conn.execute(query)).first()
            before = Flag.from_dict(json.loads(row.doc)) if row else None
            after, audit = change(before)
            if audit is None:
                return None
            doc = json.dumps(after.to_dict(), separators=(",", ":"))
            if row is None:
                try:
                    await conn.execute(
                        t.insert().values(
                            project=after.project, name=after.name, archived=after.archived, doc=doc
                        )
                    )
                except IntegrityError as exc:
                    raise FlagExists(f"flag {name!r} exists already") from exc
            else:
                await conn.execute(
                    t.update()
                    .where(t.c.project == project, t.c.name == name)
                    .values(archived=after.archived, doc=doc)
                )
            return await self._append(conn, audit)

    async def flag_project(self, name: str) -> str | None:
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(flags_table.c.project).where(flags_table.c.name == name)
                )
            ).first()
        return str(row.project) if row else None

    async def delete(self, project: str, name: str, audit: Audit) -> AuditEvent:
        t = flags_table
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                t.delete().where(t.c.project == project, t.c.name == name, t.c.archived.is_(True))
            )
            if not result.rowcount:
                raise FlagNotFound(f"no archived flag {name!r} in project {project!r}")
            return await self._append(conn, audit)

    async def put_segment(
        self, segment: Segment | None, audit: Audit, *, delete: int | None = None
    ) -> tuple[Segment | None, AuditEvent]:
        t = segments_table
        async with self._db.engine.begin() as conn:
            if delete is not None:
                result = await conn.execute(t.delete().where(t.c.id == delete))
                if not result.rowcount:
                    raise SegmentNotFound(f"no segment with id {delete}")
                return None, await self._append(conn, audit)
            assert segment is not None
            doc = json.dumps(
                {
                    "description": segment.description,
                    "project": segment.project,
                    "constraints": [c.to_dict() for c in segment.constraints],
                }
            )
            try:
                if segment.id:
                    result = await conn.execute(
                        t.update().where(t.c.id == segment.id).values(name=segment.name, doc=doc)
                    )
                    if not result.rowcount:
                        raise SegmentNotFound(f"no segment with id {segment.id}")
                    sid = segment.id
                else:
                    result = await conn.execute(t.insert().values(name=segment.name, doc=doc))
                    key = result.inserted_primary_key
                    assert key is not None
                    sid = int(key[0])
            except IntegrityError as exc:
                raise FlagExists(f"a segment named {segment.name!r} exists already") from exc
            stored = Segment(
                sid, segment.name, segment.constraints, segment.description, segment.project
            )
            data = stored.to_dict()
            return stored, await self._append(
                conn, Audit(**{**{k: getattr(audit, k) for k in Audit.__slots__}, "data": data})
            )

    async def audit(
        self,
        *,
        feature: str | None = None,
        project: str | None = None,
        environment: str | None = None,
        actors: tuple[str, ...] | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest first; `actors` keeps the changes those actors made (indexed, migration
        flags_0002: a problem's page finds what its remediations switched without a scan)."""
        t = audit_table
        query = sa.select(t).order_by(t.c.seq.desc()).limit(limit)
        if feature:
            query = query.where(t.c.feature == feature)
        if project:
            query = query.where(t.c.project == project)
        if environment:
            query = query.where(t.c.environment == environment)
        if actors is not None:
            query = query.where(t.c.created_by.in_(actors))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_audit_row(r) for r in rows]

    async def record(self, audit: Audit) -> AuditEvent:
        """An audit event with no flag change (tokens, users)."""
        async with self._db.engine.begin() as conn:
            return await self._append(conn, audit)

    # tokens ---------------------------------------------------------------------------
    async def add_token(self, token: ApiToken) -> bool:
        insert = (postgresql.insert if self._pg else sqlite.insert)(tokens_table)
        row = {k: getattr(token, k) for k in ApiToken.__slots__}
        async with self._db.engine.begin() as conn:
            result = await conn.execute(insert.on_conflict_do_nothing(), row)
        return bool(result.rowcount)

    async def find_token(self, secret_hash: str) -> ApiToken | None:
        t = tokens_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.secret_hash == secret_hash))).first()
        return ApiToken(**row._mapping) if row else None

    async def tokens(self) -> list[ApiToken]:
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(tokens_table).order_by("created_at"))).all()
        return [ApiToken(**r._mapping) for r in rows]

    async def delete_token(self, secret_hash: str) -> bool:
        t = tokens_table
        async with self._db.engine.begin() as conn:
            result = await conn.execute(t.delete().where(t.c.secret_hash == secret_hash))
        return bool(result.rowcount)

    # users and settings ---------------------------------------------------------------
    async def user_hash(self, name: str) -> str | None:
        t = users_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.c.password_hash).where(t.c.name == name))).first()
        return str(row.password_hash) if row else None

    async def add_user(self, name: str, password_hash: str, created_at: float) -> bool:
        insert = (postgresql.insert if self._pg else sqlite.insert)(users_table)
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                insert.on_conflict_do_nothing(),
                {"name": name, "password_hash": password_hash, "created_at": created_at},
            )
        return bool(result.rowcount)

    async def meta(self, key: str, default: str) -> str:
        """The stored value, or `default` stored first (the first replica to ask wins)."""
        insert = (postgresql.insert if self._pg else sqlite.insert)(meta_table)
        async with self._db.engine.begin() as conn:
            await conn.execute(insert.on_conflict_do_nothing(), {"key": key, "value": default})
            row = (
                await conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == key))
            ).one()
        return str(row.value)

    # metrics --------------------------------------------------------------------------
    async def add_metrics(self, buckets: Sequence[MetricsBucket]) -> None:
        if not buckets:
            return
        t = metrics_table
        insert = (postgresql.insert if self._pg else sqlite.insert)(t)
        stmt = insert.on_conflict_do_update(
            index_elements=["feature", "app_name", "environment", "bucket_start"],
            set_={"yes": t.c.yes + insert.excluded.yes, "no": t.c.no + insert.excluded.no},
        )
        rows = [
            {
                "feature": b.feature,
                "app_name": b.app_name,
                "environment": b.environment,
                "bucket_start": b.start,
                "yes": b.yes,
                "no": b.no,
            }
            for b in buckets
        ]
        async with self._db.engine.begin() as conn:
            for row in rows:
                await conn.execute(stmt, row)

    async def metrics(self, feature: str, *, since: int = 0) -> list[MetricsBucket]:
        t = metrics_table
        query = (
            sa.select(t)
            .where(t.c.feature == feature, t.c.bucket_start >= since)
            .order_by(t.c.bucket_start)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            MetricsBucket(r.feature, r.app_name, r.environment, int(r.bucket_start), r.yes, r.no)
            for r in rows
        ]
