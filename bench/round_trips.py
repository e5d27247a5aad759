"""SQL statements, transactions and bus messages per remediation sequence, PostgreSQL + NATS.

    .venv/bin/python bench/round_trips.py [--sequences 100] [--services 20] [--replicas 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--nats nats://127.0.0.1:4222]

One replica (a `build()` container in this process, served through ASGI) on a fresh database
next to `--database-url` and a JetStream stream of its own on `--nats` (both removed
afterwards), the project of bench/replicas.py (get-action → the real `toggle-feature`).
Counts, during a burst of `--sequences` notifications until every sequence finished: the SQL
statements the replica sent (SQLAlchemy's `before_cursor_execute`), its commits, psycopg's own
`BEGIN`/`COMMIT`/`ROLLBACK` (so the round trips to PostgreSQL), and the messages put on its
stream; prints them per sequence with the most frequent statements. The
counts are of work done, not of time: they do not depend on the machine's load. With
`--replicas N`, N replicas run in this process (the notifications go round-robin to them)
and their counts add up: what grows with N is work a replica repeats for the others.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from replicas import (
    ADMIN,
    delete_stream,
    drop_postgres,
    fresh_postgres,
    notification,
    setup,
)
from selfheal.bootstrap import build
from selfheal.bus import open_bus
from selfheal.settings import Settings
from selfheal.web import create_app


def short(event_type: str) -> str:
    """`get-action.triggered` of `sh.keptn.event.get-action.triggered`."""
    return ".".join(event_type.split(".")[-2:])


def count_commands(on: list[bool]) -> collections.Counter[str]:
    """psycopg's own commands (`BEGIN`, `COMMIT`, `ROLLBACK`, `DEALLOCATE`): round trips that
    SQLAlchemy's cursor events do not see (nor `pg_stat_database`, which counts an autocommit
    statement as a transaction). Counted where psycopg sends them (a private method, fine
    for a bench tool: psycopg 3.1–3.3)."""
    from psycopg import _connection_base

    counted: collections.Counter[str] = collections.Counter()
    send = _connection_base.BaseConnection._exec_command

    def counting(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        if on[0]:
            text = command.decode() if isinstance(command, bytes) else str(command)
            counted[text.split()[0].upper() if text.strip() else "?"] += 1
        return (yield from send(self, command, *args, **kwargs))

    _connection_base.BaseConnection._exec_command = counting  # type: ignore[method-assign]
    return counted


def shape(statement: str) -> str:
    """A statement without its literal lists: `SELECT … FROM events WHERE …` in one line."""
    one = re.sub(r"\s+", " ", statement).strip()
    one = re.sub(r"\(%\([^)]*\)s(, %\([^)]*\)s)*\)", "(…)", one)
    return one[:150]


async def stream_messages(url: str, stream: str) -> int:
    import nats

    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=100)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--replicas", type=int, default=1, help="replicas in this process (counted together)"
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    url, plain, name = fresh_postgres(args.database_url)
    stream = f"BENCHT_{uuid.uuid4().hex[:8]}"
    bus_url = f"{args.nats}?stream={stream}&subject_prefix=t{stream}.&consumer_prefix=t{stream}"
    try:
        settings = Settings(
            database_url=url,
            bus_url=bus_url,
            init_admin_api_tokens=[ADMIN],  # type: ignore[list-item]
        )
        settings = settings.model_copy(
            update={
                "control": settings.control.model_copy(
                    update={"breaker_max_actions": 10 * args.sequences}
                )
            }
        )
        containers = []
        for _ in range(args.replicas):
            containers.append(await build(settings, bus=await open_bus(bus_url)))
            await containers[-1].start()
        try:
            counts: collections.Counter[str] = collections.Counter()
            commits = [0]
            on = [False]

            def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                if on[0]:
                    counts[shape(statement)] += 1

            def commit(_conn: Any) -> None:
                if on[0]:
                    commits[0] += 1

            commands = count_commands(on)
            for c in containers:
                engine = c.runtime.database.engine.sync_engine
                sa.event.listen(engine, "before_cursor_execute", count)
                sa.event.listen(engine, "commit", commit)
            services = [f"svc-{i}" for i in range(args.services)]
            clients = [
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(c, manage_lifecycle=False)),
                    base_url="http://bench",
                    headers={"Authorization": ADMIN},
                    timeout=60,
                )
                for c in containers
            ]
            http = clients[0]
            try:
                await setup(http, "", services)
                finished_q = "SELECT count(*) FROM control_sequences WHERE state = 'finished'"
                before = await stream_messages(args.nats, stream)
                xacts = (
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
                )
                with psycopg.connect(plain, autocommit=True) as db:
                    row = db.execute(xacts, (name,)).fetchone()
                    xact_before = int(row[0]) if row is not None else 0
                on[0] = True
                start = time.perf_counter()
                codes = await asyncio.gather(
                    *(
                        clients[i % len(clients)].post(
                            "/api/v1/event", json=notification(services[i % len(services)])
                        )
                        for i in range(args.sequences)
                    )
                )
                assert {c.status_code for c in codes} == {200}
                done = 0
                for _ in range(1800):
                    with psycopg.connect(plain, autocommit=True) as db:  # not counted
                        row = db.execute(finished_q).fetchone()
                    done = int(row[0]) if row is not None else 0
                    if done >= args.sequences:
                        break
                    await asyncio.sleep(0.1)
                elapsed = time.perf_counter() - start
                await asyncio.sleep(2)  # trailing work: escalation checks, the outbox relay
                on[0] = False
                messages = await stream_messages(args.nats, stream) - before
                with psycopg.connect(plain, autocommit=True) as db:
                    row = db.execute(xacts, (name,)).fetchone()
                    transactions = (int(row[0]) if row is not None else 0) - xact_before
            finally:
                for client in clients:
                    await client.aclose()
        finally:
            for c in containers:
                await c.stop()
        with psycopg.connect(plain, autocommit=True) as db:
            rows = db.execute(
                "SELECT shkeptncontext, type, time FROM events"
                " WHERE type LIKE 'sh.keptn.event.%%' ORDER BY shkeptncontext, time, seq"
            ).fetchall()
        gaps: dict[str, list[float]] = collections.defaultdict(list)
        for (ca, ta, ma), (cb, tb, mb) in itertools.pairwise(rows):
            if ca == cb:
                gaps[f"{short(ta)} → {short(tb)}"].append(1000 * (float(mb) - float(ma)))
        n = args.sequences
        total = sum(counts.values())
        print(
            f"{done} of {n} sequences finished in {elapsed:.1f} s; per sequence: "
            f"{total / n:.1f} SQL statements, {commits[0] / n:.1f} commits, "
            f"{transactions / n:.1f} PostgreSQL transactions (pings and reads included), "
            f"{messages / n:.1f} bus messages"
        )
        trips = total + sum(commands.values())
        print(
            f"round trips to PostgreSQL per sequence: {trips / n:.1f} (the statements, and "
            + ", ".join(f"{k / n:.1f} {what}" for what, k in sorted(commands.items()))
            + ")"
        )
        print("\nmedian ms between consecutive events of a sequence, over the burst:")
        for hop, values in sorted(gaps.items(), key=lambda kv: -len(kv[1])):
            if len(values) >= n // 2:
                print(f"  {statistics.median(values):7.1f}  {hop}  (n={len(values)})")
        print(f"\nmost frequent statements (per sequence, of {total / n:.1f}):")
        for text, k in counts.most_common(args.top):
            print(f"  {k / n:5.2f}  {text}")
    finally:
        await delete_stream(args.nats, stream)
        drop_postgres(args.database_url, name)


if __name__ == "__main__":
    asyncio.run(main())
