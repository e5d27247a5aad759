"""Flag flips while NATS is down: how long the admin API takes to answer, and how long until
the other replica's `/api/client/features` serves the flip (the database revision poll).

Run: `.venv/bin/python bench/flags_without_bus.py [--flips 10] [--pg postgresql://postgres@127.0.0.1:5432/postgres]`.
Starts its own nats-server (killed after the replicas connected) and a scratch PostgreSQL
database (dropped afterwards); two replicas are `build()` containers in this process, served
through ASGI. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid

import httpx
import psycopg

from selfheal.bootstrap import Container, build
from selfheal.bus.jetstream import JetStreamBus
from selfheal.flags.config import FlagsSettings
from selfheal.settings import Settings
from selfheal.web import create_app

ADMIN = {"Authorization": "*:*.admin-secret"}
SDK = {"Authorization": "default:production.client-secret"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_nats(binary: str, port: int, store: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _enabled(http: httpx.AsyncClient) -> bool:
    body = (await http.get("/api/client/features", headers=SDK)).json()
    return bool(next(f["enabled"] for f in body["features"] if f["name"] == "kill"))


async def run(flips: int, pg_admin: str, publish_wait: float) -> None:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = _port()
    store = tempfile.mkdtemp(prefix="bench-nats-")
    nats = _start_nats(binary, port, store)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + pg_admin.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    replicas: list[Container] = []
    try:
        await asyncio.sleep(0.5)
        settings = Settings(
            database_url=url,
            init_admin_api_tokens=["*:*.admin-secret"],  # type: ignore[list-item]
            init_backend_api_tokens=["default:production.client-secret"],  # type: ignore[list-item]
            flags=FlagsSettings(publish_wait_seconds=publish_wait),
        )
        for prefix in ("a", "b"):
            bus = await JetStreamBus.connect(
                f"nats://127.0.0.1:{port}", consumer_prefix=prefix, publish_timeout=1.0
            )
            c = await build(settings, bus=bus)
            await c.start()
            replicas.append(c)
        a, b = replicas
        await a.flags.service.create_flag("kill", actor="bench")
        nats.kill()
        nats.wait(10)
        answers: list[float] = []
        converged: list[float] = []
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(c, manage_lifecycle=False)),
                base_url="http://bench",
            )
            for c in replicas
        ]
        http_a, http_b = clients
        for i in range(flips):
            state = "on" if i % 2 == 0 else "off"
            start = time.perf_counter()
            r = await http_a.post(
                f"/api/admin/projects/default/features/kill/environments/production/{state}",
                headers=ADMIN,
            )
            answers.append(time.perf_counter() - start)
            r.raise_for_status()
            deadline = start + 10
            while await _enabled(http_b) != (state == "on"):
                if time.perf_counter() > deadline:
                    raise SystemExit("replica b did not converge within 10 s")
                await asyncio.sleep(0.01)
            converged.append(time.perf_counter() - start)
            await asyncio.sleep(0.3)  # flips land at different points of b's poll cycle
        for client in clients:
            await client.aclose()
        ms = [x * 1000 for x in answers]
        cs = [x * 1000 for x in converged]
        print(
            f"flips with NATS down: {flips}, poll interval "
            f"{b.settings.flags.revision_poll_seconds}s, publish wait {publish_wait}s"
        )
        print("| | median | max |\n|---|---|---|")
        print(f"| admin API answer (ms) | {statistics.median(ms):.1f} | {max(ms):.1f} |")
        print(f"| other replica serves it (ms) | {statistics.median(cs):.0f} | {max(cs):.0f} |")
    finally:
        if nats.poll() is None:
            nats.kill()
        for c in replicas:
            c.runtime.bus.inner.drain_timeout = 0.5  # type: ignore[attr-defined]
            await c.stop()
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(store, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flips", type=int, default=10)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--publish-wait", type=float, default=FlagsSettings().publish_wait_seconds)
    args = parser.parse_args()
    asyncio.run(run(args.flips, args.pg, args.publish_wait))


if __name__ == "__main__":
    main()
