"""What integrations remember about the outside world: the Jira ticket of a problem, the Slack
thread of a problem, the comments already synced. A small key-value store per integration,
kept in the database so a restart finds the ticket again instead of opening a duplicate.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from selfheal.storage import Database


class Links(Protocol):
    """Per-integration state; `claim` is an atomic insert-if-absent (True if it inserted)."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any]) -> None: ...

    async def claim(self, key: str, value: dict[str, Any]) -> bool: ...

    async def scan(self, prefix: str) -> list[tuple[str, dict[str, Any]]]: ...


class MemoryLinks:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        value = self.rows.get(key)
        return dict(value) if value is not None else None

    async def put(self, key: str, value: dict[str, Any]) -> None:
        self.rows[key] = dict(value)

    async def claim(self, key: str, value: dict[str, Any]) -> bool:
        if key in self.rows:
            return False
        self.rows[key] = dict(value)
        return True

    async def scan(self, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        return sorted((k, dict(v)) for k, v in self.rows.items() if k.startswith(prefix))


metadata = sa.MetaData()
links_table = sa.Table(
    "integration_links",
    metadata,
    sa.Column("integration", sa.String(128), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


class SqlLinks:
    """One integration's rows of the `integration_links` table."""

    def __init__(self, database: Database, integration: str) -> None:
        self._db = database
        self._integration = integration

    def _where(self, key: str) -> Any:
        t = links_table
        return sa.and_(t.c.integration == self._integration, t.c.key == key)

    async def get(self, key: str) -> dict[str, Any] | None:
        t = links_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.c.value).where(self._where(key)))).first()
        return json.loads(row.value) if row is not None else None

    async def put(self, key: str, value: dict[str, Any]) -> None:
        t = links_table
        text = json.dumps(value, separators=(",", ":"))
        async with self._db.engine.begin() as conn:
            result = await conn.execute(t.update().where(self._where(key)).values(value=text))
            if not result.rowcount:
                await conn.execute(
                    t.insert().values(integration=self._integration, key=key, value=text)
                )

    async def claim(self, key: str, value: dict[str, Any]) -> bool:
        text = json.dumps(value, separators=(",", ":"))
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    links_table.insert().values(integration=self._integration, key=key, value=text)
                )
        except IntegrityError:
            return False
        return True

    async def scan(self, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        t = links_table
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = (
            sa.select(t.c.key, t.c.value)
            .where(t.c.integration == self._integration)
            .where(t.c.key.like(escaped + "%", escape="\\"))
            .order_by(t.c.key)
        )
        async with self._db.engine.connect() as conn:
            return [(r.key, json.loads(r.value)) for r in (await conn.execute(stmt)).all()]
