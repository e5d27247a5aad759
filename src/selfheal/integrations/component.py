"""The integrations context as a component of the composition root (placeholder until it is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from selfheal.integrations.config import IntegrationsSettings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.control import ControlComponent
    from selfheal.flags import FlagsComponent
    from selfheal.monitor import MonitorComponent
    from selfheal.runtime import Runtime


class IntegrationsComponent:
    name = "integrations"

    def __init__(
        self,
        runtime: Runtime,
        settings: IntegrationsSettings,
        *,
        flags: FlagsComponent,
        monitor: MonitorComponent,
        control: ControlComponent,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.flags = flags
        self.monitor = monitor
        self.control = control

    def routers(self) -> list[APIRouter]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
