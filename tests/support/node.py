"""Node 22 with unleash-server 8 and the Node `unleash-client` SDK from the npm registry
(and, separately, the browser SDKs whose dist files test pages load).

Installed once into a cache folder outside the repo (`SELFHEAL_NODE_CACHE`, default
~/.cache/selfheal-test/node) and reused; the tests that need it skip locally when npm cannot
install it and fail under CI=true (through `tests.conftest.unavailable`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PACKAGES = ("node@22", "unleash-server@8.2.0", "unleash-client@6")
CACHE = Path(os.environ.get("SELFHEAL_NODE_CACHE", Path.home() / ".cache/selfheal-test/node"))


class NodeUnavailable(RuntimeError):
    pass


BROWSER_PACKAGES = (
    "unleash-proxy-client@3",
    "@openfeature/web-sdk@1",
    "@openfeature/ofrep-web-provider@0.4",
)
"""Browser SDKs whose dist files (UMD/ESM) a test page loads as they are, no bundler."""
BROWSER_CACHE = CACHE.parent / "browser-sdks"


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One installer at a time per cache folder: pytest-xdist workers (and two checkouts on one
    machine) share it, and two `npm install`s into one node_modules break each other."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    with (cache.parent / f".{cache.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(cache: Path = CACHE, packages: tuple[str, ...] = PACKAGES) -> Path:
    """The cache folder with node_modules installed; raises NodeUnavailable with the reason."""
    with _locked(cache):
        return _install(cache, packages)


def _install(cache: Path, packages: tuple[str, ...]) -> Path:
    marker = cache / ".installed"
    if marker.exists() and marker.read_text() == " ".join(packages):
        return cache
    npm = shutil.which("npm")
    if npm is None:
        raise NodeUnavailable("npm is not installed")
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text(json.dumps({"name": "selfheal-node", "private": True}))
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *packages],
        cwd=cache,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise NodeUnavailable(f"npm install failed: {proc.stderr.strip()[-500:]}")
    marker.write_text(" ".join(packages))
    return cache


def node_bin(cache: Path = CACHE) -> Path:
    return cache / "node_modules" / ".bin" / "node"


START_JS = """
const unleash = require('unleash-server');
unleash.start({
  db: { host: '127.0.0.1', port: 5432, user: 'postgres', password: '',
        database: process.env.UNLEASH_DB, ssl: false },
  server: { port: parseInt(process.env.PORT) },
  authentication: { initApiTokens: [
    { environment: '*', project: '*', secret: process.env.ADMIN_TOKEN, type: 'admin', tokenName: 'admin' },
    { environment: process.env.UNLEASH_ENV || 'development', project: 'default',
      secret: process.env.CLIENT_TOKEN, type: 'client', tokenName: 'client' },
    { environment: process.env.UNLEASH_ENV || 'development', project: 'default',
      secret: process.env.FRONTEND_TOKEN, type: 'frontend', tokenName: 'frontend' },
  ] },
  logLevel: 'error',
}).then(() => console.log('unleash started'));
"""


@dataclass
class UnleashServer:
    """A running unleash-server 8 on its own PostgreSQL database."""

    url: str
    admin_token: str
    client_token: str
    frontend_token: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_unleash(
    port: int, database: str, *, environment: str = "development", cache: Path = CACHE
) -> UnleashServer:
    """Start unleash-server on `port` with a fresh database (created by the caller)."""
    ensure(cache)
    script = cache / "start-unleash.js"
    with _locked(cache):  # another worker's unleash-server may be reading it right now
        if not script.exists() or script.read_text() != START_JS:
            script.write_text(START_JS)
    env = {
        **os.environ,
        "CHECK_VERSION": "false",
        "SEND_TELEMETRY": "false",
        "SDK_API_RATE_LIMIT_PER_MINUTE": "100000000",
        "TOKEN_AUTHENTICATION_RATE_LIMIT_PER_MINUTE": "100000000",
        "UNLEASH_DB": database,
        "PORT": str(port),
        "UNLEASH_ENV": environment,
        "ADMIN_TOKEN": "*:*.unleash-admin-secret",
        "CLIENT_TOKEN": f"default:{environment}.unleash-client-secret",
        "FRONTEND_TOKEN": f"default:{environment}.unleash-frontend-secret",
    }
    proc = subprocess.Popen(
        [str(node_bin(cache)), str(script)],
        cwd=cache,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = UnleashServer(
        url=f"http://127.0.0.1:{port}",
        admin_token=env["ADMIN_TOKEN"],
        client_token=env["CLIENT_TOKEN"],
        frontend_token=env["FRONTEND_TOKEN"],
        process=proc,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NodeUnavailable(f"unleash-server exited with {proc.returncode}")
        try:
            r = httpx.get(f"{server.url}/health", timeout=1)
            if r.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise NodeUnavailable("unleash-server did not become healthy within 90 s")
