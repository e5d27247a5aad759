"""The website's own backend dependency, with a fault you can dial in.

The fault lives here, on the application's code path, and nowhere else: when the kill switch
sends traffic to the CDN this code is not called, so the remediation really cures it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class BackendFailure(Exception):
    """The simulated dependency failed (the website answers 500)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """`rate` of calls fail (0..1); every call first waits `latency` seconds."""

    rate: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if not 0.0 <= self.latency <= 30.0:
            raise ValueError("latency must be between 0 and 30 seconds")

    @property
    def active(self) -> bool:
        return self.rate > 0 or self.latency > 0

    def as_dict(self) -> dict[str, float]:
        return {"rate": self.rate, "latency_ms": round(self.latency * 1000, 3)}


@dataclass(frozen=True, slots=True)
class Rendered:
    message: str
    rendered_at: float
    took: float


Sleep = Callable[[float], Awaitable[None]]


class Backend:
    """What the app's own page needs; `rng`, `sleep` and `clock` are injected for tests."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        fault: Fault | None = None,
    ) -> None:
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock
        self.fault = fault or Fault()
        self.fault_changed_at: float | None = None
        """When the fault last changed (epoch s, this process's clock): the demo report's
        fault onset and fault cleared come from here, not from the runner's clock."""
        self.calls = 0

    def set_fault(self, fault: Fault) -> None:
        self.fault = fault
        self.fault_changed_at = self._clock()

    async def render(self) -> Rendered:
        self.calls += 1
        start = time.perf_counter()
        fault = self.fault
        if fault.latency > 0:
            await self._sleep(fault.latency)
        if fault.rate > 0 and self._rng.random() < fault.rate:
            raise BackendFailure("the backend dependency failed")
        return Rendered(
            message="Everything you see here comes from the application itself.",
            rendered_at=time.time(),
            took=time.perf_counter() - start,
        )
