"""Restores on PostgreSQL with two control planes sharing only the database: one drives a
restore at a time (its lease), and when it is killed mid-step the other takes the restore
over from the committed row and finishes it — the flag never left unattended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.control import ControlSettings
from selfheal.control.restore_store import STEPPING, Restore
from selfheal.control.specs import RestorePolicy
from selfheal.settings import Settings
from tests.support.restores import FakeDesk, FakeOrigin, FakeSwitch

pytestmark = pytest.mark.postgres

LEASE = {"lease_seconds": 1.0, "heartbeat_seconds": 0.2, "poll_seconds": 0.1}
PID = "P-restore"


async def wait_for(what: str, probe: Callable[[], Awaitable[Any]], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
async def planes(pg_url: str, settings: Settings) -> AsyncIterator[list[Container]]:
    started: list[Container] = []
    origin, desk, switch = FakeOrigin(), FakeDesk(), FakeSwitch()  # one monitor, one flag
    desk.open(PID)
    for name in ("a", "b"):
        control = ControlSettings(replica_id=name, restore_check_seconds=0.1, **LEASE)  # type: ignore[arg-type]
        config = settings.model_copy(update={"database_url": pg_url, "control": control})
        container = await build(config, bus=MemoryBus())
        await container.start()
        container.control.restores.use(origin=origin, desk=desk, switch=switch)
        started.append(container)
    yield started
    for container in reversed(started):
        await container.stop()


def switch_of(plane: Container) -> FakeSwitch:
    found = plane.control.restores.ports.switch
    assert isinstance(found, FakeSwitch)
    return found


async def test_restore_killed_driver_is_taken_over_and_finished(planes: list[Container]) -> None:
    a, b = planes
    machine_a = a.control.restores
    now = time.time()
    policy = RestorePolicy(steps=(90, 50, 0), hold_seconds=(1.5, 1.5, 1.5), consecutive=1)
    restore = Restore(
        id="ctx-restore",
        project="website",
        stage="production",
        service="front-end",
        problem_id=PID,
        flag="EnableStaticContent",
        environment="production",
        flag_project="default",
        policy=policy,
        state=STEPPING,
        step=0,
        step_since=now,
        attempts=(now,),
        due=now,
        owner="a",
        lease_until=now + 1.0,
        created=now,
        updated=now,
        version=1,
    )
    assert await machine_a.store.insert(restore)
    switch = switch_of(a)
    switch.percent = 90

    async def stepped() -> bool:
        found = await machine_a.store.get(restore.id)
        return found is not None and found.step >= 1

    await wait_for("replica a to drive the restore", stepped)
    row = await machine_a.store.get(restore.id)
    assert row is not None and row.owner == "a"  # b left a's live lease alone
    await a.control.stop(release=False)  # killed mid-step
    machine_b = b.control.restores

    async def finished() -> Restore | None:
        found = await machine_b.store.get(restore.id)
        return found if found is not None and found.state == "restored" else None

    done = await wait_for("replica b to take over and finish", finished)
    assert done.owner == "b"
    assert switch.percent == 0 and switch.percents[-1] == 0
    assert set(switch.percents) <= {50, 0}  # never back to an earlier step
    assert switch.percents.count(0) == 1  # the flag went off once
    desk = machine_b.ports.desk
    assert isinstance(desk, FakeDesk) and desk.resolved
