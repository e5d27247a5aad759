"""Shared fixtures. Real services follow one rule: skip locally with the reason, fail under CI."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import hypothesis
import pytest
from xdist.remote import Producer

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.settings import Settings
from tests.support.scheduling import SuiteScheduling

# Property tests check behaviour, never time: no per-example deadline (a loaded 2-core machine
# made a 200 ms deadline fail a correct parser).
hypothesis.settings.register_profile("selfheal", deadline=None)
hypothesis.settings.load_profile("selfheal")

IN_CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get("SELFHEAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("SELFHEAL_TEST_NATS", "nats://127.0.0.1:4222")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> SuiteScheduling | None:
    """`--dist loadgroup`: tests/faults and tests/deploy each run whole on one worker."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return SuiteScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On an xdist worker, hand out the longest single tests first: they go out in collection
    order, so the `slow` ones (processes, browsers, the demo) lead and the many quick ones fill
    the workers' tails. A serial run keeps the written order (`-x` still meets the unit tests
    first)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail under CI=true where every service must be there."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_tool(*names: str) -> str:
    """The path of the first tool found on PATH (Debian packages), or skip/fail."""
    for name in names:
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
        )
        if path:
            return path
    unavailable(f"{' or '.join(names)} is not installed (make tools installs it)")
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    name = f"selfheal_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def nats_url() -> str:
    if not port_open("127.0.0.1", 4222):
        unavailable("NATS (with JetStream) is not running on 127.0.0.1:4222")
    return NATS_URL


@pytest.fixture
def settings(tmp_path: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/selfheal.db",  # type: ignore[str-bytes-safe]
        init_admin_api_tokens=["*:*.admin-secret"],  # type: ignore[list-item]
        init_backend_api_tokens=["default:production.client-secret"],  # type: ignore[list-item]
        init_frontend_api_tokens=["default:production.frontend-secret"],  # type: ignore[list-item]
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    """The whole system on SQLite in a temp dir and the memory bus, started."""
    c = await build(settings, bus=MemoryBus())
    await c.start()
    try:
        yield c
    finally:
        await c.stop()
