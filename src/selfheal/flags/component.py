"""The flags context as a component of the composition root (placeholder until it is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from selfheal.flags.config import FlagsSettings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.runtime import Runtime
    from selfheal.settings import Settings


class FlagsComponent:
    name = "flags"

    def __init__(self, runtime: Runtime, settings: FlagsSettings, *, root: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.root = root  # INIT_*_API_TOKENS and the admin password live at the top level

    def routers(self) -> list[APIRouter]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
