"""Small fakes for the integrations tests (a clock that records sleeps)."""

from __future__ import annotations

import asyncio


class RecordingClock:
    """Time stands still; every sleep is recorded and returns at once."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)
