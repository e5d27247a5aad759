"""The container image, built once per test session from a clean checkout, and podman.

The image is built by scripts/image.sh from `git archive HEAD` (uncommitted files never leak
in) and tagged by the commit's tree, so a second session on the same tree reuses it
(`SELFHEAL_IMAGE_REBUILD=1` forces a build). Older `test-*` tags are removed when a new one is
built. Without podman the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_tool, unavailable
from tests.support.paths import REPO

TEST_TAG = "localhost/selfheal:test-"
IMAGE_BUILD_TIMEOUT = 1200
"""Seconds a test that uses the image may take: the first one builds it, and a cold build (an
empty ~/.cache/selfheal: the Debian rootfs, every wheel) took up to ~3 min on a loaded 2-core
machine, beyond the suite's 180 s per test."""
SELFHEAL = str(Path(sys.executable).parent / "selfheal")


@dataclass
class Podman:
    binary: str
    env: dict[str, str]
    names: list[str] = field(default_factory=list)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, *args],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {done.returncode}: {done.stderr}")
        return done

    def inspect(self, name: str, template: str) -> str:
        return self("inspect", "--format", template, name).stdout.strip()

    def run_selfheal(self, image: str, port: int, *, volume: str | None = None, **env: str) -> str:
        """A detached selfheal container on the host network, listening on `port`."""
        name = f"selfheal-test-{uuid.uuid4().hex[:8]}"
        args = ["run", "-d", "--name", name, "--network", "host"]
        for key, value in {"SELFHEAL_HOST": "127.0.0.1", "SELFHEAL_PORT": str(port), **env}.items():
            args += ["-e", f"{key}={value}"]
        if volume:
            args += ["-v", f"{volume}:/var/lib/selfheal"]
        self(*args, image)
        self.names.append(name)
        return name

    def logs(self, name: str) -> str:
        done = self("logs", name, check=False)
        return (done.stdout + done.stderr)[-4000:]

    def wait_ready(self, name: str, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.inspect(name, "{{.State.Running}}") != "true":
                pytest.fail(f"container {name} stopped:\n{self.logs(name)}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        pytest.fail(f"{name} not ready within {timeout} s:\n{self.logs(name)}")

    def cleanup(self) -> None:
        for name in self.names:
            self("rm", "-f", "-v", "-t", "0", name, check=False)
        self.names.clear()


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    binary = require_tool("podman")
    conf = subprocess.run(
        ["bash", str(REPO / "scripts" / "image.sh"), "--env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {**os.environ, "CONTAINERS_CONF": conf.split("=", 1)[1]}
    tool = Podman(binary, env)
    if tool("info", check=False, timeout=120).returncode != 0:
        unavailable(f"podman does not work here: {tool('info', check=False).stderr[-500:]}")
    try:
        yield tool
    finally:
        tool.cleanup()


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    """localhost/selfheal:test-<tree>, built from a clean checkout of HEAD (once per tree)."""
    try:
        tree = _git("rev-parse", "HEAD^{tree}")
    except (OSError, subprocess.CalledProcessError):
        unavailable("not a git checkout: the image is built from `git archive HEAD`")
        raise AssertionError("unreachable") from None
    tag = TEST_TAG + tree[:12]
    rebuild = os.environ.get("SELFHEAL_IMAGE_REBUILD") == "1"
    if not rebuild and podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    src = tmp_path_factory.mktemp("checkout")
    archive = src.parent / f"{src.name}.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(src, filter="data")
    archive.unlink()
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(src / "scripts" / "image.sh")],
        check=False,
        env={**podman.env, "IMAGE": tag, "SRC": str(src), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=IMAGE_BUILD_TIMEOUT - 60,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/image.sh failed:\n{done.stderr[-4000:]}")
    seconds = time.monotonic() - started
    size = int(podman.inspect(tag, "{{.Size}}")) // 1_000_000
    print(f"\nimage {tag}: built in {seconds:.0f} s, {size} MB", file=sys.stderr)
    for old in podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
        if old.startswith(TEST_TAG) and old != tag:
            podman("rmi", old, check=False)
    return tag


def cli(tmp_path: Path, *args: str) -> str:
    """The `selfheal` CLI of this checkout, with its saved auth kept in `tmp_path`."""
    done = subprocess.run(
        [SELFHEAL, *args],
        check=False,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"selfheal {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout
