"""Control-plane latency and throughput with a no-op action.

    .venv/bin/python bench/control.py [--sequences 400] [--services 50] [--nats nats://127.0.0.1:4222]

Measures (1) problem notification received → `sh.keptn.event.action.triggered` published,
p50/p99 over notifications sent one at a time (no queueing), and (2) completed remediation
sequences per second when `--sequences` problems arrive at once, spread over `--services`
services (one sequence per service runs at a time, the rest queue). Each sequence runs
get-action → action (noop) → evaluation (an SLO on a bench SLI that passes) and ends
remediated. Everything is in one process on SQLite (a temp file); with `--nats` the bus is
NATS JetStream. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
import uuid
from collections import Counter
from typing import Any

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus, open_bus
from selfheal.control import ControlSettings, NoopActionProvider, SliScope
from selfheal.core import CloudEvent
from selfheal.settings import Settings

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: bench}
spec:
  stages:
    - name: production
      sequences:
        - name: remediation
          tasks:
            - name: get-action
            - name: action
            - name: evaluation
"""
REMEDIATION = """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: bench}
spec:
  remediations:
    - problemType: default
      actionsOnOpen:
        - {name: Nothing, action: noop, description: does nothing}
"""
SLO = """spec_version: '1.0'
objectives:
  - sli: bench_ok
    pass:
      - criteria: ["=0"]
total_score: {pass: "90%", warning: "75%"}
"""


class ZeroSli:
    async def get_sli(self, name: str, scope: SliScope, start: float, end: float) -> float | None:
        return 0.0


def problem(service: str) -> CloudEvent:
    pid = uuid.uuid4().hex
    return CloudEvent(
        type="sh.keptn.events.problem",
        source="bench",
        data={
            "State": "OPEN",
            "PID": pid,
            "ProblemTitle": "Failure rate increase",
            "Tags": f"keptn_project:bench, keptn_stage:production, keptn_service:{service}",
        },
    )


async def setup(container: Container, services: int) -> None:
    svc = container.control.service
    await svc.create_project("bench", SHIPYARD)
    await svc.add_resources("bench", "", "", [("remediation.yaml", REMEDIATION), ("slo.yaml", SLO)])
    for i in range(services):
        await svc.create_service("bench", f"svc-{i}")
    svc.register_action_provider(NoopActionProvider())
    svc.register_sli_provider("bench", ZeroSli())


def fresh_postgres(url: str) -> str:
    """A new database next to the one named in `url` (each run starts empty)."""
    import psycopg

    base, _, _name = url.rpartition("/")
    name = f"selfheal_bench_{uuid.uuid4().hex[:8]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


async def run(
    args: argparse.Namespace, bus_url: str | None, database_url: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_postgres(database_url) if database_url else f"sqlite+aiosqlite:///{tmp}/b.db"
        # every sequence runs an action: the circuit breaker (10 per service and hour by
        # default) would escalate instead once latency samples + sequences exceed 10/service
        limit = args.latency_samples + args.sequences
        settings = Settings(
            database_url=url, control=ControlSettings(breaker_max_actions=max(10, limit))
        )
        bus = (
            await open_bus(bus_url, consumer_prefix=f"bench{uuid.uuid4().hex[:6]}")
            if bus_url
            else MemoryBus()
        )
        container = await build(settings, bus=bus)
        await container.start()
        try:
            await setup(container, args.services)
            triggered: dict[str, asyncio.Future[float]] = {}
            finished: asyncio.Queue[str] = asyncio.Queue()

            async def on_action(event: CloudEvent) -> None:
                fut = triggered.get(event.shkeptncontext or "")
                if fut is not None and not fut.done():
                    fut.set_result(time.perf_counter())

            async def on_done(event: CloudEvent) -> None:
                if event.payload().get("outcome") == "remediated":
                    await finished.put(event.shkeptncontext or "")

            await container.runtime.events.subscribe("sh.keptn.event.action.triggered", on_action)
            await container.runtime.events.subscribe(
                "sh.keptn.event.production.remediation.finished", on_done
            )
            latencies = []
            for i in range(args.latency_samples):
                event = problem(f"svc-{i % args.services}")
                context = event.id
                event = event.with_extensions(shkeptncontext=context)
                fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                triggered[context] = fut
                start = time.perf_counter()
                await container.runtime.events.publish(event)
                end = await asyncio.wait_for(fut, 30)
                latencies.append((end - start) * 1000)
                await asyncio.wait_for(finished.get(), 30)
            latencies.sort()
            events = [problem(f"svc-{i % args.services}") for i in range(args.sequences)]
            start = time.perf_counter()
            await asyncio.gather(*(container.runtime.events.publish(e) for e in events))
            for done in range(args.sequences):
                try:
                    await asyncio.wait_for(finished.get(), 120)
                except TimeoutError:
                    seqs, _ = await container.control.service.list_sequences(limit=10_000)
                    outcomes = Counter(f"{s.state}/{s.outcome}: {s.message}" for s in seqs)
                    raise SystemExit(
                        f"only {done} of {args.sequences} sequences finished remediated: "
                        + "; ".join(f"{n}× {k}" for k, n in outcomes.most_common(5))
                    ) from None
            elapsed = time.perf_counter() - start
            return {
                "p50": statistics.median(latencies),
                "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                "rate": args.sequences / elapsed,
            }
        finally:
            await container.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=400)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--nats", default=None, help="also run over NATS JetStream at this URL")
    parser.add_argument(
        "--database-url",
        default=None,
        help="also run on PostgreSQL (postgresql+psycopg://user@host:5432/x; a fresh database "
        "is created next to x)",
    )
    args = parser.parse_args()
    rows = [("in process (memory bus, SQLite)", await run(args, None, None))]
    if args.nats:
        rows.append(("NATS JetStream, SQLite", await run(args, args.nats, None)))
    if args.database_url:
        rows.append(("memory bus, PostgreSQL", await run(args, None, args.database_url)))
        if args.nats:
            rows.append(
                ("NATS JetStream, PostgreSQL", await run(args, args.nats, args.database_url))
            )
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {args.sequences} sequences over {args.services} services\n"
    )
    print("| bus | problem → action.triggered p50 | p99 | remediation sequences/s |")
    print("|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['rate']:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
