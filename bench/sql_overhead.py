"""CPU and wall time of one small SELECT on PostgreSQL, by way of running it.

    .venv/bin/python bench/sql_overhead.py [--n 2000]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

The same indexed lookup (`pg_class` by name), `--n` times in a row on one connection, on
uvloop: through SQLAlchemy Core with psycopg (what selfheal runs), through SQLAlchemy with
asyncpg, on a bare psycopg async connection, and on a bare asyncpg connection (asyncpg is
not a dependency of selfheal; that row is skipped when it is not installed). What a
statement costs the replica's one core, apart from PostgreSQL's own work: a remediation
sequence sends about 28 statements plus the transactions' BEGIN/COMMIT (see
bench/round_trips.py), so this is the floor of its database CPU on each path.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import psycopg
import sqlalchemy as sa
import uvloop
from sqlalchemy.ext.asyncio import create_async_engine

SQL = "SELECT relname FROM pg_class WHERE relname = "


async def timed(n: int, one: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    await one()  # warm: connection, prepared statement, compiled cache
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await one()
    return (time.perf_counter() - wall) / n * 1e3, (time.process_time() - cpu) / n * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    plain = args.database_url
    rest = plain.split("://", 1)[1]
    rows: list[tuple[str, float, float]] = []
    t = sa.table("pg_class", sa.column("relname"))
    stmt = sa.select(t.c.relname).where(t.c.relname == sa.bindparam("n"))
    drivers = ["psycopg"]
    try:
        import asyncpg
    except ImportError:
        asyncpg = None
    else:
        drivers.append("asyncpg")
    for driver in drivers:
        engine = create_async_engine(f"postgresql+{driver}://{rest}")
        async with engine.connect() as conn:

            async def via_sqlalchemy(conn: object = conn) -> object:
                return (await conn.execute(stmt, {"n": "pg_class"})).first()  # type: ignore[attr-defined]

            rows.append((f"SQLAlchemy Core + {driver}", *await timed(args.n, via_sqlalchemy)))
        await engine.dispose()
    async with await psycopg.AsyncConnection.connect(plain) as raw:

        async def via_psycopg() -> object:
            cur = await raw.execute(SQL + "%s", ("pg_class",))
            return await cur.fetchone()

        rows.append(("psycopg, bare", *await timed(args.n, via_psycopg)))
    if asyncpg is not None:
        bare = await asyncpg.connect(plain)
        try:

            async def via_asyncpg() -> object:
                return await bare.fetchrow(SQL + "$1", "pg_class")

            rows.append(("asyncpg, bare", *await timed(args.n, via_asyncpg)))
        finally:
            await bare.close()
    print(f"{args.n} statements each, one connection, uvloop\n")
    print("| path | wall ms/statement | CPU ms/statement |")
    print("|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")


if __name__ == "__main__":
    uvloop.run(main())
