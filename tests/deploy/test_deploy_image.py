"""The image from a clean checkout, run with podman: ready, the seed's remediation through the
CLI, non-root, a clean exit on SIGTERM within the stop timeout, data kept on its volume."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy.conftest import IMAGE_BUILD_TIMEOUT, Podman, cli
from tests.support.paths import SEED

pytestmark = [pytest.mark.deploy, pytest.mark.slow, pytest.mark.timeout(IMAGE_BUILD_TIMEOUT)]

ADMIN = "*:*.deploy-admin-secret"
CLIENT = "default:production.deploy-client-secret"
FLAG = "EnableStaticContent"
GRACE = 30  # podman stop's timeout here; Kubernetes and compose are given 30 s too


@dataclass
class Running:
    name: str
    url: str
    volume: str


@pytest.fixture(scope="module")
def running(podman: Podman, image: str) -> Iterator[Running]:
    volume = f"selfheal-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    name = podman.run_selfheal(
        image,
        port,
        volume=volume,
        SELFHEAL_INIT_ADMIN_API_TOKENS=ADMIN,
        SELFHEAL_INIT_BACKEND_API_TOKENS=CLIENT,
        SELFHEAL_ADMIN_PASSWORD="deploy-test-password",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        podman.wait_ready(name, url)
        yield Running(name, url, volume)
    finally:
        podman("rm", "-f", "-v", "-t", "0", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)


def flag_on(url: str) -> bool:
    r = httpx.get(f"{url}/api/client/features", headers={"Authorization": CLIENT}, timeout=5)
    assert r.status_code == 200, r.text
    return any(f["name"] == FLAG and f["enabled"] for f in r.json()["features"])


def stop(podman: Podman, name: str) -> int:
    """`podman stop` sends the image's STOPSIGNAL (SIGTERM), then SIGKILL after GRACE s;
    a process that needed the SIGKILL would report 137."""
    podman("stop", "-t", str(GRACE), name, timeout=GRACE + 60)
    return int(podman.inspect(name, "{{.State.ExitCode}}"))


def test_image_is_ready_and_runs_as_non_root(podman: Podman, image: str, running: Running) -> None:
    ready = httpx.get(f"{running.url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    assert podman.inspect(image, "{{.Config.User}}") == "10001:10001"
    status = podman("exec", running.name, "cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert set(uids) == {"10001"}, status
    assert podman.inspect(image, "{{.Config.StopSignal}}") == "SIGTERM"
    # no compiler in the runtime stage
    assert podman("exec", running.name, "sh", "-c", "command -v gcc cc", check=False).stdout == ""


def test_image_remediates_the_seed_problem_through_the_cli(
    running: Running, tmp_path: Path
) -> None:
    cli(tmp_path, "auth", "--endpoint", running.url, "--api-token", ADMIN)
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
    assert not flag_on(running.url)
    out = cli(tmp_path, "send", "event", "-f", str(SEED / "problemopen.json"))
    assert "keptnContext" in out
    deadline = time.monotonic() + 60
    while not flag_on(running.url):
        assert time.monotonic() < deadline, "the remediation did not turn the flag on"
        time.sleep(0.3)


def test_image_stops_with_0_on_sigterm_and_keeps_its_data(podman: Podman, running: Running) -> None:
    admin = {"Authorization": ADMIN}
    r = httpx.post(
        f"{running.url}/api/admin/projects/default/features",
        json={"name": "survives-restart"},
        headers=admin,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    code = stop(podman, running.name)
    assert code == 0, podman.logs(running.name)
    assert "Traceback" not in podman.logs(running.name)

    podman("start", running.name)
    podman.wait_ready(running.name, running.url)
    r = httpx.get(
        f"{running.url}/api/admin/projects/default/features/survives-restart",
        headers=admin,
        timeout=5,
    )
    assert r.status_code == 200, r.text
    db = podman("exec", running.name, "ls", "-ln", "/var/lib/selfheal/selfheal.db").stdout
    assert db.split()[2:4] == ["10001", "10001"], db
    assert stop(podman, running.name) == 0, podman.logs(running.name)
