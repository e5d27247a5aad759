"""Remediation throughput with 1, 2 and 3 `selfheal up` replicas on PostgreSQL + NATS.

    .venv/bin/python bench/replicas.py [--replicas 1,2,3] [--sequences 300] [--services 50]
        [--latency-samples 30] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--nats nats://127.0.0.1:4222]

Each row starts N real replicas (the scale-out mode of docs/operations.md) on a fresh
database next to `--database-url` and a stream of their own on `--nats` (deleted afterwards),
creates one project whose remediation sequence is get-action → action, and one service with
its own kill-switch flag per `--services`; the action is the real `toggle-feature`.
Measures (1) problem notification POSTed → `sh.keptn.event.action.triggered` (the stored
event's time), p50/p99 over notifications sent one at a time; (2) remediation sequences
finished per second when `--sequences` notifications arrive at once, spread round-robin over
the replicas and over the services (one sequence per service runs at a time, the rest queue).
Prints a Markdown table with the ratio to one replica, and the CPU time the replicas and their
PostgreSQL backends spent per sequence during the burst (/proc, Linux), and the database's
committed transactions per sequence (pg_stat_database).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ADMIN = "*:*.bench-admin-secret"
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
"""
REMEDIATION = """apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: bench}
spec:
  remediations:
    - problemType: default
      actionsOnOpen:
        - {name: Kill switch, action: toggle-feature, value: "FLAG:on"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fresh_postgres(url: str) -> tuple[str, str, str]:
    """(SQLAlchemy URL, psycopg URL, name) of a new database next to the one in `url`."""
    base, _, _name = url.rpartition("/")
    name = f"selfheal_bench_{uuid.uuid4().hex[:8]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}", f"{plain}/{name}", name


def drop_postgres(url: str, name: str) -> None:
    plain = url.rpartition("/")[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:
        pass
    finally:
        await nc.close()


def start_replicas(
    n: int, env: dict[str, str], tmp: Path
) -> list[tuple[str, subprocess.Popen[bytes]]]:
    exe = str(Path(sys.executable).parent / "selfheal")
    started = []
    for i in range(n):
        port = free_port()
        work = tmp / f"r{i}"
        work.mkdir()
        with (work / "selfheal.log").open("wb") as out:
            proc = subprocess.Popen(
                [exe, "up"],
                cwd=work,
                env={**os.environ, **env, "SELFHEAL_PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append((f"http://127.0.0.1:{port}", proc))
        if i == 0:  # the first one migrates; the others start on a ready schema
            wait_ready(*started[0], work)
    for i, (url, proc) in enumerate(started):
        wait_ready(url, proc, tmp / f"r{i}")
    return started


def wait_ready(url: str, proc: subprocess.Popen[bytes], work: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"replica exited: {(work / 'selfheal.log').read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"replica not ready in 60 s: {(work / 'selfheal.log').read_text()[-2000:]}")


def notification(service: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": "sh.keptn.events.problem",
        "source": "dynatrace",
        "id": str(uuid.uuid4()),
        "data": {
            "State": "OPEN",
            "PID": uuid.uuid4().hex,
            "ProblemTitle": "Failure rate increase",
            "Tags": f"keptn_project:bench, keptn_stage:production, keptn_service:{service}",
        },
    }


async def setup(http: httpx.AsyncClient, url: str, services: list[str]) -> None:
    r = await http.post(
        url + "/api/controlPlane/v1/project",
        json={"projectName": "bench", "shipyard": b64(SHIPYARD)},
    )
    assert r.status_code == 201, r.text
    for service in services:
        flag = f"Kill-{service}"
        r = await http.post(
            url + "/api/admin/projects/default/features", json={"name": flag, "type": "kill-switch"}
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            url + "/api/controlPlane/v1/project/bench/service", json={"serviceName": service}
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            url
            + f"/api/configuration-service/v1/project/bench/stage/production/service/{service}/resource",
            json={
                "resources": [
                    {
                        "resourceURI": "remediation.yaml",
                        "resourceContent": b64(REMEDIATION.replace("FLAG", flag)),
                    }
                ]
            },
        )
        assert r.status_code == 201, r.text


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(db: psycopg.Connection[Any], name: str) -> list[int]:
    """PostgreSQL backend pids connected to the bench's database (the replicas' pools)."""
    rows = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def commits(db: psycopg.Connection[Any], name: str) -> int:
    row = db.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
    ).fetchone()
    return int(row[0]) if row is not None else 0


def triggered_at(db: psycopg.Connection[Any], service: str) -> float | None:
    row = db.execute(
        "SELECT min(time) FROM events WHERE type = 'sh.keptn.event.action.triggered'"
        " AND service = %s",
        (service,),
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def finished(db: psycopg.Connection[Any]) -> tuple[int, float | None]:
    row = db.execute(
        "SELECT count(*), max(updated) FROM control_sequences WHERE state = 'finished'"
    ).fetchone()
    assert row is not None
    return int(row[0]), (None if row[1] is None else float(row[1]))


def hops(db: psycopg.Connection[Any], services: list[str]) -> list[tuple[str, float]]:
    """Median time between consecutive stored events of the latency samples' sequences,
    up to their action.triggered: which step of problem → action costs what."""
    gaps: dict[str, list[float]] = {}
    for service in services:
        rows = db.execute(
            "SELECT type, time FROM events WHERE service = %s ORDER BY time, seq", (service,)
        ).fetchall()
        for (a, ta), (b, tb) in itertools.pairwise(rows):
            gaps.setdefault(
                f"{a.rsplit('.', 2)[-2]}.{a.rsplit('.', 1)[-1]} → "
                f"{b.rsplit('.', 2)[-2]}.{b.rsplit('.', 1)[-1]}",
                [],
            ).append((float(tb) - float(ta)) * 1000)
            if b == "sh.keptn.event.action.triggered":
                break
    return [(hop, statistics.median(v)) for hop, v in gaps.items() if len(v) >= len(services) // 2]


async def run(args: argparse.Namespace, replicas: int) -> dict[str, float]:
    url, plain, name = fresh_postgres(args.database_url)
    stream = f"BENCHR_{uuid.uuid4().hex[:8]}"
    env = {
        "SELFHEAL_DATABASE_URL": url,
        "SELFHEAL_BUS_URL": f"{args.nats}?stream={stream}&subject_prefix=b{stream}.&consumer_prefix=b{stream}",
        "SELFHEAL_INIT_ADMIN_API_TOKENS": ADMIN,
        "SELFHEAL_CONTROL__BREAKER_MAX_ACTIONS": str(10 * (args.sequences + args.latency_samples)),
        "SELFHEAL_LOG_LEVEL": "WARNING",
    }
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            procs = start_replicas(replicas, env, Path(tmp))
            urls = [u for u, _ in procs]
            services = [f"svc-{i}" for i in range(args.services)]
            latency_services = [f"lat-{i}" for i in range(args.latency_samples)]
            # idle connections are dropped before uvicorn's 5 s keep-alive closes them: a
            # connection reused as the server closes it fails with ReadError (the burst
            # comes after the idle measurement)
            limits = httpx.Limits(max_connections=64, keepalive_expiry=2.0)
            async with httpx.AsyncClient(
                headers={"Authorization": ADMIN}, timeout=60, limits=limits
            ) as http:
                await setup(http, urls[0], services + latency_services)
                with psycopg.connect(plain, autocommit=True) as db:
                    latencies = []
                    for i, service in enumerate(latency_services):
                        sent = time.time()
                        r = await http.post(
                            urls[i % len(urls)] + "/api/v1/event", json=notification(service)
                        )
                        assert r.status_code == 200, r.text
                        at = None
                        for _ in range(3000):
                            at = triggered_at(db, service)
                            if at is not None:
                                break
                            await asyncio.sleep(0.01)
                        assert at is not None, f"no action.triggered for {service} in 30 s"
                        latencies.append((at - sent) * 1000)
                    print(f"{replicas} replica(s), where the time goes (median ms per hop):")
                    for hop, ms in hops(db, latency_services):
                        print(f"  {hop}: {ms:.1f}")
                    for _ in range(600):  # the latency sequences end before the burst
                        if finished(db)[0] >= len(latency_services):
                            break
                        await asyncio.sleep(0.1)
                    base = finished(db)[0]
                    idle_before = [cpu_seconds(p.pid) for _, p in procs]
                    await asyncio.sleep(args.idle_seconds)
                    idle = [
                        1000 * (cpu_seconds(p.pid) - b) / args.idle_seconds
                        for (_, p), b in zip(procs, idle_before, strict=True)
                    ]
                    print(
                        f"{replicas} replica(s), idle: CPU ms/s per replica "
                        + " ".join(f"{ms:.0f}" for ms in idle)
                    )
                    bodies = [
                        notification(services[i % len(services)]) for i in range(args.sequences)
                    ]
                    pg_pids = backends(db, name)
                    cpu_before = [cpu_seconds(p.pid) for _, p in procs]
                    pg_before = {pid: cpu_seconds(pid) for pid in pg_pids}
                    xact_before = commits(db, name)
                    start = time.time()
                    try:
                        codes = await asyncio.gather(
                            *(
                                http.post(urls[i % len(urls)] + "/api/v1/event", json=b)
                                for i, b in enumerate(bodies)
                            )
                        )
                    except httpx.HTTPError:
                        for i in range(replicas):
                            log = (Path(tmp) / f"r{i}" / "selfheal.log").read_text()[-3000:]
                            print(f"---- r{i} log tail ----\n{log}", file=sys.stderr)
                        raise
                    assert {c.status_code for c in codes} == {200}
                    done, last = 0, None
                    for _ in range(args.timeout * 10):
                        done, last = finished(db)
                        if done - base >= args.sequences:
                            break
                        await asyncio.sleep(0.1)
                    if done - base < args.sequences or last is None:
                        for row in db.execute(
                            "SELECT context, service, state, phase, owner, lease_until, message"
                            " FROM control_sequences WHERE state <> 'finished'"
                        ):
                            print("unfinished:", row, file=sys.stderr)
                        for i in range(replicas):
                            log = (Path(tmp) / f"r{i}" / "selfheal.log").read_text()[-3000:]
                            print(f"---- r{i} log tail ----\n{log}", file=sys.stderr)
                        raise SystemExit(
                            f"{replicas} replica(s): only {done - base} of {args.sequences} "
                            f"sequences finished in {args.timeout} s"
                        )
                    replica_cpu = sum(cpu_seconds(p.pid) for _, p in procs) - sum(cpu_before)
                    pg_pids = sorted(set(pg_pids) | set(backends(db, name)))
                    pg_after = {pid: cpu_seconds(pid) for pid in pg_pids}
                    pg_cpu = sum(  # backends that closed meanwhile are not counted
                        after - pg_before.get(pid, 0.0) for pid, after in pg_after.items() if after
                    )
                    await asyncio.sleep(1.0)  # the statistics collector flushes ~every 0.5 s
                    xacts = commits(db, name) - xact_before
                    print(
                        f"{replicas} replica(s), burst: replicas' CPU "
                        f"{1000 * replica_cpu / args.sequences:.1f} ms/sequence, PostgreSQL "
                        f"backends' CPU {1000 * pg_cpu / args.sequences:.1f} ms/sequence, "
                        f"{xacts / args.sequences:.1f} committed transactions/sequence"
                    )
                    latencies.sort()
                    return {
                        "cpu": 1000 * replica_cpu / args.sequences,
                        "idle": sum(idle) / len(idle),
                        "pg_cpu": 1000 * pg_cpu / args.sequences,
                        "xacts": xacts / args.sequences,
                        "p50": statistics.median(latencies),
                        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                        "rate": args.sequences / (last - start),
                    }
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await delete_stream(args.nats, stream)
        drop_postgres(args.database_url, name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--sequences", type=int, default=300)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--timeout", type=int, default=180, help="seconds for the burst")
    parser.add_argument(
        "--idle-seconds", type=float, default=3.0, help="replicas' idle CPU measured before it"
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    rows = [(n, await run(args, n)) for n in (int(x) for x in args.replicas.split(","))]
    one = next((r["rate"] for n, r in rows if n == 1), rows[0][1]["rate"])
    print(
        f"Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} cores), "
        f"{args.sequences} sequences over {args.services} services, PostgreSQL + NATS JetStream\n"
    )
    print(
        "| replicas | problem → action.triggered p50 | p99 | remediation sequences/s | ratio to 1"
        " | replica CPU ms/seq | PostgreSQL CPU ms/seq | transactions/seq"
        " | idle CPU ms/s per replica |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, r in rows:
        print(
            f"| {n} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['rate']:.0f} |"
            f" {r['rate'] / one:.2f}× | {r['cpu']:.1f} | {r['pg_cpu']:.1f} | {r['xacts']:.1f} |"
            f" {r['idle']:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
