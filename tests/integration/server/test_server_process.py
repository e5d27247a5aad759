"""`selfheal up` as a real process: ready, scrapeable, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
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


def wait_for(condition: Callable[[], bool], what: str, server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if server.proc.poll() is not None:
            pytest.fail(f"selfheal exited with {server.proc.returncode} {what}:\n{server.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {timeout}s:\n{server.output()}")
        time.sleep(0.1)


def stop_and_expect_0(server: Server, grace: float = 20) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pytest.fail(f"selfheal ignored SIGTERM for {grace}s:\n{server.output()}")
    assert code == 0, server.output()


def test_sigterm_before_the_event_loop_runs_exits_0(tmp_path: Path) -> None:
    """`up` installs `Shutdown` before it imports the app or reads settings; a process held
    in that phase (here: asleep right after `install()`) exits 0 on SIGTERM."""
    code = (
        "import sys, time\n"
        "from selfheal.cli.shutdown import Shutdown\n"
        "Shutdown().install()\n"
        "print('installed', flush=True)\n"
        "time.sleep(120)\n"
        "sys.exit(3)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "installed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.postgres
def test_sigterm_while_waiting_for_the_migration_lock_exits_0(
    tmp_path: Path, running: list[Server], pg_url: str
) -> None:
    """A replica that waits for another one's migration (the advisory lock) stops at once
    on SIGTERM instead of finishing its start first."""
    import psycopg

    from selfheal.storage.database import MIGRATION_LOCK

    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        server = start(tmp_path, SELFHEAL_DATABASE_URL=pg_url)
        running.append(server)

        def waiting() -> bool:
            # this database's lock only: pg_locks lists every database's, and a server of
            # a test running alongside may be waiting on its own database's migration lock
            row = holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            return row is not None and row[0] == 1

        wait_for(waiting, "waiting for the migration lock", server)
        stop_and_expect_0(server)
        assert "Traceback" not in server.output()
        assert not waiting()  # its transaction was rolled back, the wait is gone
