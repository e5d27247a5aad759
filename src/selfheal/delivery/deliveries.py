"""Delivery records: every outbound call (an integration's, a monitor webhook), and where
it ended.

A delivery is `pending` while attempts run, `succeeded`, or `dead` (the dead-letter list:
retries exhausted or a permanent failure); a dead one can be retried by hand. `args` is the
secret-free recipe the sender rebuilds the request from, so a retry resolves secrets afresh
and nothing sensitive is stored. `target` is the redacted method and URL.

A pending delivery is leased by the outbox running it (`lease_owner`, `lease_until`): the
lease covers the attempt and the backoff sleep after it. A process that stops releases its
leases; one that dies leaves them to expire. Any replica may then `claim` the delivery with
one conditional UPDATE, so exactly one of them resumes it. `round_attempts` counts the
attempts of the current round, so a resumed delivery gets only the attempts it has left.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from selfheal.delivery.errors import DeliveryNotFound
from selfheal.storage import Database

PENDING = "pending"
SUCCEEDED = "succeeded"
DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    integration: str
    kind: str
    created: float
    updated: float
    status: str = PENDING
    attempts: int = 0
    target: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None
    problem: str | None = None
    keptn_context: str | None = None
    event_type: str | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    round_attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    endpoint: str = ""
    """The queue it waits in: deliveries to one endpoint go in order, one at a time, and a
    slow or failing endpoint holds back only its own queue ("" : the integration's)."""

    @property
    def queue(self) -> str:
        return self.endpoint or self.integration

    def public(self) -> dict[str, Any]:
        """The JSON shape of the API (no recipe, no lease: they are internal)."""
        out = asdict(self)
        for internal in ("args", "round_attempts", "lease_owner", "lease_until", "endpoint"):
            out.pop(internal)
        out["keptnContext"] = out.pop("keptn_context")
        return out


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    problem: str | None = None
    keptn_context: str | None = None
    status: str | None = None
    integration: str | None = None
    limit: int = 200


class DuplicateDelivery(Exception):
    """Another delivery already holds this dedup key (raised by `DeliveryStore.add`)."""


class DeliveryStore(Protocol):
    async def add(self, delivery: Delivery) -> None: ...

    async def save(self, delivery: Delivery, owner: str) -> bool:
        """Write unless another owner holds the lease now (False: it was taken over)."""
        ...

    async def claim(
        self, delivery_id: str, *, owner: str, now: float, until: float, status: str = PENDING
    ) -> Delivery | None:
        """Lease a delivery in `status` whose lease is free or expired; None if another won.
        Claiming a dead one makes it pending with a fresh round."""
        ...

    async def expired(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries nobody holds a live lease on (oldest first)."""
        ...

    async def get(self, delivery_id: str) -> Delivery: ...

    async def find(self, query: DeliveryQuery) -> list[Delivery]: ...

    async def by_key(self, dedup_key: str) -> Delivery | None: ...


def _free(d: Delivery, now: float) -> bool:
    return d.lease_until is None or d.lease_until <= now


def _keep(d: Delivery, q: DeliveryQuery) -> bool:
    return (
        (q.problem is None or d.problem == q.problem)
        and (q.keptn_context is None or d.keptn_context == q.keptn_context)
        and (q.status is None or d.status == q.status)
        and (q.integration is None or d.integration == q.integration)
    )


class MemoryDeliveryStore:
    def __init__(self) -> None:
        self._rows: dict[str, Delivery] = {}

    async def add(self, delivery: Delivery) -> None:
        if delivery.dedup_key and await self.by_key(delivery.dedup_key):
            raise DuplicateDelivery(delivery.dedup_key)
        self._rows[delivery.id] = delivery

    async def save(self, delivery: Delivery, owner: str) -> bool:
        held = self._rows.get(delivery.id)
        if held is not None and held.lease_owner not in (None, owner):
            return False
        self._rows[delivery.id] = delivery
        return True

    async def claim(
        self, delivery_id: str, *, owner: str, now: float, until: float, status: str = PENDING
    ) -> Delivery | None:
        d = self._rows.get(delivery_id)
        if d is None or d.status != status or not _free(d, now):
            return None
        rounds = d.round_attempts if status == PENDING else 0
        d = replace(
            d,
            status=PENDING,
            round_attempts=rounds,
            lease_owner=owner,
            lease_until=until,
            updated=now,
        )
        self._rows[delivery_id] = d
        return d

    async def expired(self, now: float, limit: int) -> list[Delivery]:
        rows = sorted(self._rows.values(), key=lambda d: d.updated)
        return [d for d in rows if d.status == PENDING and _free(d, now)][:limit]

    async def get(self, delivery_id: str) -> Delivery:
        try:
            return self._rows[delivery_id]
        except KeyError:
            raise DeliveryNotFound(f"delivery {delivery_id!r} not found") from None

    async def find(self, query: DeliveryQuery) -> list[Delivery]:
        rows = sorted(self._rows.values(), key=lambda d: d.created, reverse=True)
        return [d for d in rows if _keep(d, query)][: query.limit]

    async def by_key(self, dedup_key: str) -> Delivery | None:
        return next((d for d in self._rows.values() if d.dedup_key == dedup_key), None)


metadata = sa.MetaData()
deliveries_table = sa.Table(
    "integration_deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("integration", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("dedup_key", sa.String(512), unique=True),
    sa.Column("problem", sa.String(255)),
    sa.Column("keptn_context", sa.String(255)),
    sa.Column("event_type", sa.String(255)),
    sa.Column("http_status", sa.Integer),
    sa.Column("latency_ms", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("round_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
    sa.Column("endpoint", sa.String(512), nullable=False, default=""),
)
_COLUMNS = [c.name for c in deliveries_table.columns]


def _to_row(d: Delivery) -> dict[str, Any]:
    row = {name: getattr(d, name) for name in _COLUMNS}
    row["args"] = json.dumps(d.args, separators=(",", ":"))
    return row


def _from_row(row: Any) -> Delivery:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["args"] = json.loads(values["args"] or "{}")
    return Delivery(**values)


def _free_sql(now: float) -> Any:
    t = deliveries_table
    return sa.or_(t.c.lease_until.is_(None), t.c.lease_until <= now)


class SqlDeliveryStore:
    """Deliveries in the `integration_deliveries` table (SQLite or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, delivery: Delivery) -> None:
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(deliveries_table.insert().values(**_to_row(delivery)))
        except IntegrityError:
            raise DuplicateDelivery(delivery.dedup_key or delivery.id) from None

    async def save(self, delivery: Delivery, owner: str) -> bool:
        row = _to_row(delivery)
        row.pop("id")
        t = deliveries_table
        mine = sa.or_(t.c.lease_owner.is_(None), t.c.lease_owner == owner)
        stmt = t.update().where(t.c.id == delivery.id, mine).values(**row)
        async with self._db.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def claim(
        self, delivery_id: str, *, owner: str, now: float, until: float, status: str = PENDING
    ) -> Delivery | None:
        t = deliveries_table
        values: dict[str, Any] = {
            "status": PENDING,
            "lease_owner": owner,
            "lease_until": until,
            "updated": now,
        }
        if status != PENDING:
            values["round_attempts"] = 0
        stmt = (
            t.update()
            .where(t.c.id == delivery_id, t.c.status == status, _free_sql(now))
            .values(**values)
        )
        async with self._db.engine.begin() as conn:
            if not (await conn.execute(stmt)).rowcount:
                return None
            row = (await conn.execute(sa.select(t).where(t.c.id == delivery_id))).first()
        return _from_row(row) if row is not None else None

    async def expired(self, now: float, limit: int) -> list[Delivery]:
        t = deliveries_table
        stmt = (
            sa.select(t)
            .where(t.c.status == PENDING, _free_sql(now))
            .order_by(t.c.updated, t.c.id)
            .limit(limit)
        )
        async with self._db.engine.connect() as conn:
            return [_from_row(r) for r in (await conn.execute(stmt)).all()]

    async def get(self, delivery_id: str) -> Delivery:
        t = deliveries_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.id == delivery_id))).first()
        if row is None:
            raise DeliveryNotFound(f"delivery {delivery_id!r} not found")
        return _from_row(row)

    async def find(self, query: DeliveryQuery) -> list[Delivery]:
        t = deliveries_table
        stmt = sa.select(t)
        for name in ("problem", "keptn_context", "status", "integration"):
            value = getattr(query, name)
            if value is not None:
                stmt = stmt.where(t.c[name] == value)
        stmt = stmt.order_by(t.c.created.desc(), t.c.id).limit(query.limit)
        async with self._db.engine.connect() as conn:
            return [_from_row(r) for r in (await conn.execute(stmt)).all()]

    async def by_key(self, dedup_key: str) -> Delivery | None:
        t = deliveries_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.dedup_key == dedup_key))).first()
        return _from_row(row) if row is not None else None


__all__ = [
    "DEAD",
    "PENDING",
    "SUCCEEDED",
    "Delivery",
    "DeliveryQuery",
    "DeliveryStore",
    "DuplicateDelivery",
    "MemoryDeliveryStore",
    "SqlDeliveryStore",
]
