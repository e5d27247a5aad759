"""SDK registrations are kept bounded: by count (least recently seen go) and by age."""

from __future__ import annotations

from pathlib import Path

from selfheal.core import ManualClock
from selfheal.flags.metrics import UsageMetrics
from selfheal.flags.store import SqlFlagStore
from selfheal.storage import Database


def _usage(tmp_path: Path, clock: ManualClock) -> UsageMetrics:
    store = SqlFlagStore(Database(f"sqlite+aiosqlite:///{tmp_path}/u.db"))
    return UsageMetrics(store, clock, limit=3, ttl=100.0)


def _register(usage: UsageMetrics, instance: str) -> None:
    usage.register({"appName": "web", "instanceId": instance}, "production")


async def test_registrations_are_bounded_least_recently_seen_first(tmp_path: Path) -> None:
    clock = ManualClock()
    usage = _usage(tmp_path, clock)
    for name in ("a", "b", "c"):
        _register(usage, name)
        await clock.advance(1)
    _register(usage, "a")  # seen again: now the most recent
    _register(usage, "d")
    assert [i for _, i in usage.applications] == ["c", "a", "d"]


async def test_registrations_expire_when_not_seen(tmp_path: Path) -> None:
    clock = ManualClock()
    usage = _usage(tmp_path, clock)
    _register(usage, "old")
    await clock.advance(60)
    _register(usage, "new")
    await clock.advance(50)
    assert [i for _, i in usage.applications] == ["new"]
    await clock.advance(60)
    assert usage.applications == {}
