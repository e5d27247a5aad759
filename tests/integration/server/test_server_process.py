"""`selfheal up` as a real process: ready, scrapeable, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

pytestmark = pytest.mark.slow
SELFHEAL = str(Path(sys.executable).parent / "selfheal")


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.proc = proc
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 60.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"selfheal exited with {self.proc.returncode}:\n{self.output()}")
            try:
                r = httpx.get(f"{self.base_url}/readyz", timeout=2)
                if r.status_code == 200:
                    return r
                last = r.status_code
            except httpx.TransportError as exc:
                last = exc
            time.sleep(0.1)
        pytest.fail(f"not ready within {timeout}s (last: {last}):\n{self.output()}")


def start(tmp_path: Path, **env: str) -> Server:
    port = free_port()
    log = tmp_path / "server.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SELFHEAL_")}
    environ.update(
        {
            "SELFHEAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/selfheal.db",
            "SELFHEAL_PORT": str(port),
            "SELFHEAL_HOST": "127.0.0.1",
            **env,
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SELFHEAL, "up"], cwd=tmp_path, env=environ, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(proc, f"http://127.0.0.1:{port}", log)


@pytest.fixture
def running() -> Iterator[list[Server]]:
    """Whatever a test started is killed afterwards, even when it failed half-way."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


def check_ready_scrape_and_stop(server: Server) -> dict[str, object]:
    ready = server.wait_ready().json()
    assert ready["database"] == "ok"
    assert ready["bus"] == "ok"
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert families, "no metric families exposed"
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"selfheal did not exit within 20s of SIGTERM:\n{server.output()}")
    assert code == 0, server.output()
    return ready


def test_up_on_sqlite_answers_and_stops_on_sigterm(tmp_path: Path, running: list[Server]) -> None:
    server = start(tmp_path)
    running.append(server)
    check_ready_scrape_and_stop(server)
    assert (tmp_path / "selfheal.db").exists()


def test_up_again_on_the_same_database(tmp_path: Path, running: list[Server]) -> None:
    """A restart migrates nothing new and starts cleanly."""
    for _ in range(2):
        server = start(tmp_path)
        running.append(server)
        check_ready_scrape_and_stop(server)


@pytest.mark.postgres
@pytest.mark.nats
def test_up_on_postgresql_and_nats(
    tmp_path: Path, running: list[Server], pg_url: str, nats_url: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    stream = f"SRV_{tag}"
    server = start(
        tmp_path,
        SELFHEAL_DATABASE_URL=pg_url,
        SELFHEAL_BUS_URL=f"{nats_url}?stream={stream}&subject_prefix=s{tag}.&consumer_prefix=s{tag}",
    )
    running.append(server)
    try:
        check_ready_scrape_and_stop(server)
    finally:
        import asyncio

        from tests.integration.bus.conftest import delete_stream

        asyncio.run(delete_stream(nats_url, stream))
