"""The monitor context as a component of the composition root (placeholder until it is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from selfheal.monitor.config import MonitorSettings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.runtime import Runtime


class MonitorComponent:
    name = "monitor"

    def __init__(self, runtime: Runtime, settings: MonitorSettings) -> None:
        self.runtime = runtime
        self.settings = settings

    def routers(self) -> list[APIRouter]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
