"""`selfheal up` as a real child process on a free port, for tests that need real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN = "*:*.test-admin-secret"
CLIENT = "default:production.test-client-secret"
FRONTEND = "default:production.test-frontend-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    admin_token: str
    client_token: str
    frontend_token: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def selfheal_up(workdir: Path, **env: str) -> Iterator[Server]:
    """Start `selfheal up` in `workdir` (SQLite there unless SELFHEAL_DATABASE_URL is given)."""
    port = free_port()
    full = {
        **os.environ,
        "SELFHEAL_PORT": str(port),
        "SELFHEAL_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/selfheal.db",
        "SELFHEAL_INIT_ADMIN_API_TOKENS": ADMIN,
        "SELFHEAL_INIT_BACKEND_API_TOKENS": CLIENT,
        "SELFHEAL_INIT_FRONTEND_API_TOKENS": FRONTEND,
        "SELFHEAL_ADMIN_PASSWORD": "test-password",
        **env,
    }
    log = workdir / "selfheal.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "selfheal"), "up"],
            cwd=workdir,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", ADMIN, CLIENT, FRONTEND, proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"selfheal up exited {proc.returncode}: {log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"selfheal up not ready in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
