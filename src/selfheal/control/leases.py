"""Who owns an open sequence or a running action, and until when.

Every open sequence row carries an `owner` (a replica id) and a `lease_until`; every write of
the sequence by an engine step renews both for the writing replica. A running action's
ledger row carries the same pair. The `LeaseKeeper` of each replica heartbeats its leases
(one UPDATE per table every `heartbeat_seconds`) and polls (every `poll_seconds`) for work
driven by committed state: sequences whose lease expired (another replica died: they are
taken over and resumed, timers included) and sequences of its own whose timer is due (the
in-memory timer is only the low-latency path). Lease times are read on `runtime.clock`; the
loops' cadence is wall time, so a manual clock moves only what tests move.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from selfheal.core import Clock

if TYPE_CHECKING:
    from selfheal.control.engine import SequenceEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lease:
    """This replica's identity and lease length."""

    owner: str
    seconds: float
    clock: Clock

    def until(self) -> float:
        return self.clock.now() + self.seconds


class LeaseKeeper:
    """The heartbeat and poll loops of one replica's engine."""

    def __init__(
        self, engine: SequenceEngine, *, heartbeat_seconds: float, poll_seconds: float
    ) -> None:
        self.engine = engine
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds
        self._tasks: list[asyncio.Task[None]] = []

    async def heartbeat(self) -> int:
        """Renew every lease this replica holds; how many rows were renewed."""
        return await self.engine.store.heartbeat()

    async def poll(self) -> int:
        """Take over orphaned sequences and fire due timers; how many sequences were handled."""
        return await self.engine.poll()

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._every(self.heartbeat_seconds, self.heartbeat), name="lease"),
            asyncio.create_task(self._every(self.poll_seconds, self.poll), name="lease-poll"),
        ]

    async def _every(self, seconds: float, work: Callable[[], Awaitable[int]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down: try again next round
                log.exception("lease %s failed", getattr(work, "__name__", "work"))

    async def stop(self) -> None:
        """Stop the loops (the leases stay until they expire or `release`)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []

    async def release(self) -> None:
        """Hand this replica's leases back (a clean shutdown): another replica takes the
        sequences over at its next poll instead of after the lease time."""
        await self.engine.store.release_leases()
