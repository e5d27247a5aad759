"""The demo's three processes — platform, CDN, website — on free ports, with readiness waits.

The platform is `selfheal up` on SQLite in the data directory, seeded with an admin and a
client token through the documented `SELFHEAL_INIT_*_API_TOKENS` variables.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from selfheal.demo.processes import Child, ProcessGroup, free_port, selfheal_command


class NotReady(RuntimeError):
    """Something did not come up before its deadline."""


class PortTaken(NotReady):
    """Another process answers on a port chosen for one of ours (a leftover of an earlier
    run, or another program that took the free port first): measuring it would measure
    somebody else's website."""


def check_pid(child: Child, answered: str | None, url: str) -> None:
    """Fail unless the process that answered `url` is `child` (its pid, as it reported it)."""
    if answered is not None and answered != str(child.process.pid):
        raise PortTaken(
            f"{url} is answered by process {answered}, not by the {child.name} this run "
            f"started (pid {child.process.pid})"
        )


@dataclass(frozen=True)
class Endpoints:
    platform: str
    cdn: str
    website: str
    admin_token: str
    client_token: str


@dataclass
class StackOptions:
    data_dir: Path
    hold_seconds: float = 3.0
    """How long the monitor waits on healthy traffic before it resolves a problem."""
    platform_env: dict[str, str] = field(default_factory=dict)
    platform_port: int | None = None


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    what: str,
    deadline: float,
    child: Child | None = None,
    interval: float = 0.1,
) -> None:
    """Poll `check` until it is true; fail when `deadline` (monotonic) passes or `child` dies."""
    while time.monotonic() < deadline:
        if child is not None:
            child.check()
        try:
            if await check():
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(interval)
    tail = f"\nlast lines of {child.log_path}:\n{child.tail()}" if child else ""
    raise NotReady(f"{what} was not ready in time{tail}")


class Stack:
    def __init__(self, options: StackOptions, processes: ProcessGroup) -> None:
        self.options = options
        self.processes = processes
        token = secrets.token_hex(12)
        self.endpoints = Endpoints(
            platform=f"http://127.0.0.1:{options.platform_port or free_port()}",
            cdn=f"http://127.0.0.1:{free_port()}",
            website=f"http://127.0.0.1:{free_port()}",
            admin_token=f"*:*.{token}",
            client_token=f"default:production.{secrets.token_hex(12)}",
        )
        self.admin_password = secrets.token_urlsafe(12)
        self.children: dict[str, Child] = {}

    def _port(self, url: str) -> str:
        return url.rsplit(":", 1)[1]

    def platform_env(self) -> dict[str, str]:
        db = self.options.data_dir / "selfheal.db"
        return {
            "SELFHEAL_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "SELFHEAL_HOST": "127.0.0.1",
            "SELFHEAL_PORT": self._port(self.endpoints.platform),
            "SELFHEAL_INIT_ADMIN_API_TOKENS": self.endpoints.admin_token,
            "SELFHEAL_INIT_BACKEND_API_TOKENS": self.endpoints.client_token,
            "SELFHEAL_ADMIN_PASSWORD": self.admin_password,
            "SELFHEAL_MONITOR__HOLD_SECONDS": str(self.options.hold_seconds),
            **self.options.platform_env,
        }

    def start_platform_and_cdn(self) -> None:
        self.children["platform"] = self.processes.start(
            "platform", selfheal_command("up"), env=self.platform_env()
        )
        self.children["cdn"] = self.processes.start(
            "cdn",
            selfheal_command("demo", "cdn", "--port", self._port(self.endpoints.cdn)),
        )

    def start_website(self, *, streaming: bool) -> None:
        ep = self.endpoints
        self.children["website"] = self.processes.start(
            "website",
            selfheal_command(
                "demo",
                "website",
                "--port",
                self._port(ep.website),
                "--unleash-url",
                ep.platform,
                "--token",
                ep.client_token,
                "--cdn-url",
                ep.cdn + "/",
                "--flags",
                "streaming" if streaming else "polling",
                "--cache-dir",
                str(self.options.data_dir / "unleash-cache"),
            ),
        )

    async def wait_platform_and_cdn(self, client: httpx.AsyncClient, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout

        async def up(url: str) -> bool:
            return (await client.get(url, timeout=2.0)).status_code == 200

        async def cdn_up() -> bool:
            url = f"{self.endpoints.cdn}/healthz"
            r = await client.get(url, timeout=2.0)
            check_pid(self.children["cdn"], r.headers.get("x-process-id"), url)
            return r.status_code == 200

        await wait_until(cdn_up, what="the CDN", deadline=deadline, child=self.children["cdn"])
        await wait_until(
            lambda: up(f"{self.endpoints.platform}/readyz"),
            what="the platform",
            deadline=deadline,
            child=self.children["platform"],
        )

    async def wait_website(self, client: httpx.AsyncClient, timeout: float = 30.0) -> None:
        async def flags_loaded() -> bool:
            url = f"{self.endpoints.website}/_status"
            r = await client.get(url, timeout=2.0)
            if r.status_code != 200:
                return False
            body = r.json()
            pid = body.get("pid")
            check_pid(self.children["website"], None if pid is None else str(pid), url)
            return bool(body.get("flags_ready"))

        await wait_until(
            flags_loaded,
            what="the website (with its flags loaded by the SDK)",
            deadline=time.monotonic() + timeout,
            child=self.children["website"],
        )

    async def supports_streaming(self, client: httpx.AsyncClient) -> bool:
        """Does the platform serve `/api/client/streaming` (else the SDK polls every second)?"""
        url = f"{self.endpoints.platform}/api/client/streaming"
        headers = {"Authorization": self.endpoints.client_token, "Accept": "text/event-stream"}
        try:
            async with client.stream("GET", url, headers=headers, timeout=3.0) as r:
                kind = r.headers.get("content-type", "")
                return r.status_code == 200 and kind.startswith("text/event-stream")
        except httpx.HTTPError:
            return False

    def check_alive(self) -> None:
        for child in self.children.values():
            child.check()

    def stop(self) -> None:
        self.processes.stop()
