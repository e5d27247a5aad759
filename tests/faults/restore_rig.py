"""The restore half of the loop with real processes: `selfheal up` replicas (tests/faults/
harness.py: their own nats-server, PostgreSQL), the demo's CDN and website (the website reads
EnableStaticContent through the official UnleashClient SDK, with the probe-bypass context and
sticky sessions), user traffic from a thread, and faults set on the website itself.

The monitor opens the problem from the website's own metrics, the remediation switches the kill
switch on, the problem is mitigated, the origin is probed and traffic restored step by step —
nothing here drives selfheal except what a person would do (the admin API).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from selfheal.demo.platform import Platform
from selfheal.demo.processes import ProcessGroup, selfheal_command
from selfheal.demo.scenario import monitor_spec, seed_file
from tests.faults.harness import Cluster, Replica, wait_until
from tests.support.server import ADMIN, CLIENT, free_port

FLAG = "EnableStaticContent"
FEATURE = f"/api/admin/projects/default/features/{FLAG}"
REMEDIATION = """\
remediations:
- name: "Failure rate increase"
  actions:
  - action: featuretoggle
    value: EnableStaticContent:on
  restore:
    probe: {consecutive: 3, intervalSeconds: 1}
    steps: [90, 50, 0]
    holdSeconds: %(hold)s
    maxFailureRate: 0.05
    backoff: {initialSeconds: 5, maxSeconds: 20}
    maxAttemptsPerHour: 20
"""
SETTINGS = {
    "SELFHEAL_MONITOR__HOLD_SECONDS": "2",
    "SELFHEAL_CONTROL__RESTORE_CHECK_SECONDS": "1",
    "SELFHEAL_CONTROL__RESTORE_HOLD_SECONDS": "20",
}
"""Short monitor hold and restore checks; a person's flip holds automation 20 s."""
AUTOMATION = ("restore:", "remediation:")


def fallback_of(flag_doc: dict[str, Any] | None) -> int | None:
    """The share of users on the fallback in production from a flag document (0: off)."""
    for env in (flag_doc or {}).get("environments") or ():
        if env.get("name") != "production":
            continue
        if not env.get("enabled"):
            return 0
        for s in env.get("strategies") or ():
            if s.get("name") == "flexibleRollout" and not s.get("disabled"):
                return int(s.get("parameters", {}).get("rollout", "100"))
        return 100
    return None


class FailoverProxy:
    """The website's SDK talks to this: each request goes to the first replica that answers,
    so the SDK keeps following the flag when one replica is killed."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.port = free_port()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                for r in proxy.replicas:
                    if not r.alive:
                        continue
                    try:
                        resp = httpx.request(
                            self.command, r.url + self.path, headers=headers, content=body,
                            timeout=5,
                        )  # fmt: skip
                    except httpx.HTTPError:
                        continue
                    self.send_response(resp.status_code)
                    for k, v in resp.headers.items():
                        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.send_header("content-length", str(len(resp.content)))
                    self.end_headers()
                    self.wfile.write(resp.content)
                    return
                self.send_error(502)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Users:
    """User traffic on the website from a thread: `rate` requests a second, 40 sticky
    sessions (the `sessionId` cookie), counted by who served them."""

    url: str
    rate: float = 25.0
    served: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                with suppress(httpx.HTTPError):
                    r = http.get(self.url + "/", headers={"cookie": f"sessionId=user-{i % 40}"})
                    by = r.headers.get("x-served-by", "?")
                    self.served[by] = self.served.get(by, 0) + 1
                    if r.status_code >= 500:
                        self.errors += 1
                self._stop.wait(1.0 / self.rate)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class RestoreRig:
    """A cluster with the website project set up, the CDN, the website and user traffic."""

    def __init__(self, cluster: Cluster, root: Path, *, hold: float = 3, proxy: bool = False):
        self.cluster = cluster
        self.http = httpx.Client(headers={"Authorization": ADMIN}, timeout=15)
        self.processes = ProcessGroup(root / "site")
        self.proxy = FailoverProxy(cluster.replicas) if proxy else None
        self.cdn = f"http://127.0.0.1:{free_port()}"
        self.website = f"http://127.0.0.1:{free_port()}"
        self.users = Users(self.website)
        self.hold = hold

    # set-up ---------------------------------------------------------------------------
    def start(self) -> None:
        first = self.cluster.replicas[0]

        async def setup() -> None:
            async with httpx.AsyncClient(
                base_url=first.url, headers={"Authorization": ADMIN}, timeout=15
            ) as client:
                platform = Platform(client)
                await platform.create_flag(FLAG)
                await platform.create_project(seed_file("shipyard.yaml"))
                await platform.create_service()
                await platform.add_resource("remediation.yaml", REMEDIATION % {"hold": self.hold})
                spec = monitor_spec(self.website)
                spec["probe"]["consecutive"] = 3
                await platform.register_service(spec)

        asyncio.run(setup())
        port = self.cdn.rsplit(":", 1)[1]
        self.processes.start("cdn", selfheal_command("demo", "cdn", "--port", port))
        sdk_url = self.proxy.url if self.proxy is not None else first.url
        self.processes.start(
            "website",
            selfheal_command(
                *("demo", "website", "--port", self.website.rsplit(":", 1)[1]),
                *("--unleash-url", sdk_url, "--token", CLIENT, "--cdn-url", self.cdn + "/"),
                *("--flags", "polling", "--cache-dir", str(self.processes.log_dir / "cache")),
            ),
        )

        def website_ready() -> bool:
            for child in self.processes.children:
                child.check()
            return bool(httpx.get(self.website + "/_status", timeout=2).json().get("flags_ready"))

        wait_until("the website with its flags loaded", website_ready, 60, step=0.3)
        wait_until(
            "the CDN", lambda: httpx.get(self.cdn + "/healthz", timeout=2).status_code == 200, 30
        )
        self.users.start()

    def stop(self) -> None:
        self.users.stop()
        self.processes.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.http.close()

    # the world ------------------------------------------------------------------------
    def fault(self, on: bool) -> None:
        if on:
            r = httpx.post(self.website + "/_fault", json={"rate": 1.0}, timeout=5)
        else:
            r = httpx.delete(self.website + "/_fault", timeout=5)
        assert r.status_code == 200, r.text

    # reading back (from any live replica) ----------------------------------------------
    def _get(self, path: str, replica: Replica | None = None, **params: Any) -> Any:
        r = self.http.get((replica or self.cluster.any()).url + path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def flag(self, replica: Replica | None = None) -> int | None:
        """The kill switch's share of users on the fallback now (0: off)."""
        return fallback_of(self._get(FEATURE, replica))

    def flag_events(self) -> list[dict[str, Any]]:
        """The kill switch's production changes, oldest first."""
        found = self._get(f"/api/admin/events/{FLAG}")["events"]
        return [e for e in reversed(found) if e.get("environment") == "production"]

    def problem(self) -> dict[str, Any] | None:
        found = self._get("/api/v2/problems", pageSize=50)["problems"]
        return found[0] if found else None

    def comments(self, problem_id: str) -> list[str]:
        found = self._get(f"/api/v2/problems/{problem_id}/comments")["comments"]
        return [str(c.get("content", "")) for c in found]

    def restores(self, replica: Replica | None = None) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/restores", replica)["restores"])

    def restore(self, replica: Replica | None = None) -> dict[str, Any]:
        """The newest restore."""
        found = self.restores(replica)
        assert found, "no restore"
        return found[0]

    def events(self, context: str) -> list[dict[str, Any]]:
        body = self._get(
            "/api/mongodb-datastore/event", keptnContext=context, project="website", pageSize=200
        )
        return list(body.get("events", []))

    def switch(self, on: bool, replica: Replica | None = None) -> float:
        """A person flips the kill switch (the Unleash admin API); the wall time of it."""
        target = (replica or self.cluster.any()).url
        at = time.time()
        r = self.http.post(f"{target}{FEATURE}/environments/production/{'on' if on else 'off'}")
        assert r.status_code == 200, r.text
        return at

    def wait(self, what: str, check: Callable[[], bool], timeout: float) -> float:
        return wait_until(what, check, timeout, step=0.2)

    def until_stepping(self, timeout: float = 90) -> dict[str, Any]:
        """Fault → problem → kill switch on → mitigated → fault cleared → restore steps."""
        self.fault(True)
        self.wait("the kill switch on (the remediation)", lambda: self.flag() == 100, 60)
        self.wait(
            "the problem mitigated", lambda: bool((self.problem() or {}).get("mitigated")), 60
        )
        self.fault(False)
        self.wait("the restore stepping", lambda: self.restore()["state"] == "stepping", timeout)
        return self.restore()


def person_changes(events: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if float(e["createdAt"]) >= since and not str(e["createdBy"]).startswith(AUTOMATION)
    ]


__all__ = ["FLAG", "SETTINGS", "FailoverProxy", "RestoreRig", "Users", "fallback_of"]
