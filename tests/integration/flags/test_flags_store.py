"""The flag store on SQLite and PostgreSQL: same behaviour through the service."""

from __future__ import annotations

import pytest

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.settings import Settings


async def exercise(settings: Settings) -> None:
    c = await build(settings, bus=MemoryBus())
    await c.start()
    try:
        svc = c.flags.service
        await svc.create_flag("one", description="first", actor="t")
        s = await svc.add_strategy("one", "production", {"name": "default"}, actor="t")
        assert await svc.set_enabled("one", "production", True, actor="t") is True
        assert await svc.set_enabled("one", "production", True, actor="t") is False
        seg = await c.flags.segments.create({"name": "g", "constraints": []})
        await svc.update_strategy(
            "one", "production", s.id, {"name": "default", "segments": [seg.id]}, actor="t"
        )
        flag = await svc.get_flag("one")
        assert flag.env("production").enabled and flag.env("production").strategies[0].segments == (
            seg.id,
        )
        await svc.archive("one", actor="t")
        assert svc.snapshot.flags == {}
        await svc.revive("one", actor="t")
        assert list(svc.snapshot.flags) == ["one"]
        history = await svc.history("one")
        assert [e.type for e in history][:2] == ["feature-revived", "feature-archived"]
        assert svc.snapshot.revision == max(e.id for e in await svc.history(limit=1000))
    finally:
        await c.stop()


async def test_store_on_sqlite(settings: Settings) -> None:
    await exercise(settings)


@pytest.mark.postgres
async def test_store_on_postgresql(settings: Settings, pg_url: str) -> None:
    await exercise(settings.model_copy(update={"database_url": pg_url}))
