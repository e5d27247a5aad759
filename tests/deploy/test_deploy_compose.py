"""The compose stack's shape on this machine: three selfheal containers from the image (host
network, one port each) on a fresh PostgreSQL database and a nats-server of the test's own,
behind Debian's nginx running the repo's deploy/nginx/selfheal.conf with the ports templated.
The official UnleashClient reads the kill switch through /unleash/api; the seed's problem is
remediated once however often it arrives; one replica killed, the others still serve."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, port_open, require_tool
from tests.deploy.conftest import IMAGE_BUILD_TIMEOUT, Podman, cli
from tests.support.natsserver import NatsServer
from tests.support.paths import REPO, SEED

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.timeout(IMAGE_BUILD_TIMEOUT),
]

ADMIN = "*:*.compose-admin-secret"
CLIENT = "default:production.compose-client-secret"
FLAG = "EnableStaticContent"
NGINX_CONF = REPO / "deploy" / "nginx" / "selfheal.conf"


def nginx_config(workdir: Path, listen: int, replicas: list[int]) -> Path:
    """The repo's server config with its ports replaced, in a minimal nginx.conf."""
    text = NGINX_CONF.read_text()
    assert text.count("listen 80;") == 1
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    for n, port in enumerate(replicas, start=1):
        assert text.count(f"selfheal-{n}:4242") == 1, n
        text = text.replace(f"selfheal-{n}:4242", f"127.0.0.1:{port}")
    (workdir / "selfheal.conf").write_text(text)
    temp = workdir / "temp"
    temp.mkdir()
    main = workdir / "nginx.conf"
    main.write_text(
        f"""daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {workdir}/selfheal.conf;
}}
"""
    )
    return main


@dataclass
class Stack:
    url: str
    replicas: list[str]
    replica_urls: list[str]


@pytest.fixture
def stack(podman: Podman, image: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    nginx = require_tool("nginx")
    nats = NatsServer(tmp_path)
    nats.start()
    ports = [free_port() for _ in range(3)]
    listen = free_port()
    url = f"http://127.0.0.1:{listen}"
    tag = uuid.uuid4().hex[:8]
    names: list[str] = []
    proxy: subprocess.Popen[bytes] | None = None
    try:
        for n, port in enumerate(ports, start=1):
            names.append(
                podman.run_selfheal(
                    image,
                    port,
                    SELFHEAL_DATABASE_URL=pg_url,
                    SELFHEAL_BUS_URL=f"{nats.url}?stream=COMPOSE_{tag}",
                    SELFHEAL_CONTROL__REPLICA_ID=f"selfheal-{n}",
                    SELFHEAL_PUBLIC_URL=url,
                    SELFHEAL_INIT_ADMIN_API_TOKENS=ADMIN,
                    SELFHEAL_INIT_BACKEND_API_TOKENS=CLIENT,
                    SELFHEAL_ADMIN_PASSWORD="compose-test-password",
                )
            )
        replica_urls = [f"http://127.0.0.1:{p}" for p in ports]
        for name, replica in zip(names, replica_urls, strict=True):
            podman.wait_ready(name, replica)
        conf = nginx_config(tmp_path, listen, ports)
        check = subprocess.run(
            [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        with (tmp_path / "nginx.out").open("wb") as out:
            proxy = subprocess.Popen(
                [nginx, "-p", str(tmp_path), "-c", str(conf)], stdout=out, stderr=out
            )
        eventually("nginx listening", lambda: port_open("127.0.0.1", listen))
        yield Stack(url, names, replica_urls)
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=20)
        for name in names:
            podman("rm", "-f", "-v", "-t", "0", name, check=False)
        nats.kill()


def eventually(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.3)


def events_of(url: str, type_: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{url}/api/v1/events",
        params={"type": type_, "pageSize": 1000},
        headers={"Authorization": ADMIN},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


def test_compose_three_replicas_behind_nginx(stack: Stack, podman: Podman, tmp_path: Path) -> None:
    from UnleashClient import UnleashClient

    # the layout: /unleash/api and /api reach the same Unleash API; / the console
    client_headers = {"Authorization": CLIENT}
    for path in ("/unleash/api/client/features", "/api/client/features"):
        r = httpx.get(stack.url + path, headers=client_headers, timeout=10)
        assert r.status_code == 200 and "features" in r.json(), (path, r.text)
    assert httpx.get(stack.url + "/readyz", timeout=10).json()["database"] == "ok"

    cli(tmp_path, "auth", "--endpoint", stack.url, "--api-token", ADMIN)
    cli(tmp_path, "flags", "create", FLAG, "--type", "kill-switch")
    cli(tmp_path, "create", "project", "website", f"--shipyard={SEED / 'shipyard.yaml'}")
    cli(tmp_path, "create", "service", "front-end", "--project=website")
    cli(
        tmp_path,
        "add-resource",
        "--project=website",
        "--stage=production",
        "--service=front-end",
        f"--resource={SEED / 'remediations.yaml'}",
        "--resourceUri=remediation.yaml",
    )

    sdk = UnleashClient(
        url=stack.url + "/unleash/api",
        app_name="deploy-compose",
        instance_id=f"deploy-{uuid.uuid4().hex[:6]}",
        environment="production",
        custom_headers=client_headers,
        refresh_interval=1,
        metrics_interval=5,
        disable_registration=True,
        cache_directory=str(tmp_path / "sdk-cache"),
    )
    sdk.initialize_client()
    try:
        eventually("the SDK's first fetch", lambda: FLAG in sdk.feature_definitions())
        assert not sdk.is_enabled(FLAG)

        # the seed's problem, sent three times (nginx spreads them over the replicas)
        problem = SEED / "problemopen.json"
        for _ in range(3):
            cli(tmp_path, "send", "event", "-f", str(problem))
        eventually("the kill switch on, seen by the SDK", lambda: sdk.is_enabled(FLAG))
        eventually(
            "the action finished",
            lambda: bool(events_of(stack.url, "sh.keptn.event.action.finished")),
        )
        stored = events_of(stack.url, "sh.keptn.event.problem.open")
        assert len(stored) == 1, "a re-sent notification (same id) is stored once"
        assert len(events_of(stack.url, "sh.keptn.event.action.triggered")) == 1
        assert len(events_of(stack.url, "sh.keptn.event.action.finished")) == 1

        # one replica killed: the proxy keeps serving, the SDK follows a flip
        podman("kill", stack.replicas[0])
        for _ in range(6):
            r = httpx.get(stack.url + "/unleash/api/client/features", headers=client_headers)
            assert r.status_code == 200, r.text
        r = httpx.post(
            f"{stack.url}/api/admin/projects/default/features/{FLAG}/environments/production/off",
            headers={"Authorization": ADMIN},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        eventually("the SDK sees the flip after a replica died", lambda: not sdk.is_enabled(FLAG))
    finally:
        sdk.destroy()
