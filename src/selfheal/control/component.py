"""The control context as a component of the composition root (placeholder until it is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from selfheal.control.config import ControlSettings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.runtime import Runtime


class ControlComponent:
    name = "control"

    def __init__(self, runtime: Runtime, settings: ControlSettings) -> None:
        self.runtime = runtime
        self.settings = settings

    def routers(self) -> list[APIRouter]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
