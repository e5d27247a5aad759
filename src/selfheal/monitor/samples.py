"""SLI samples shared through the database: the leader writes, any replica reads.

The leader of a service appends every scraped sample to a `SampleRecorder`, which writes
them in batches (one multi-row INSERT per flush, off the detection loop). Any replica can
rebuild a service's series over a time range from the stored raw counters
(`series_between`): reset correction is done again on read, so a leader change (whose
in-memory offsets start afresh) never shows as a drop. Old samples are pruned by the
runtime's retention pass (`retention.samples_hours`).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from typing import Protocol

from selfheal.core import Clock
from selfheal.monitor.slis import SliSeries
from selfheal.monitor.sources import Sample

log = logging.getLogger(__name__)
MAX_BUFFER = 50_000
"""Samples held while the database is away; the oldest go beyond this (logged)."""


class SampleStore(Protocol):
    async def add_samples(self, rows: list[tuple[str, Sample]]) -> None: ...

    async def samples(
        self, service: str, start: float, end: float, limit: int = 100_000
    ) -> list[Sample]:
        """The last sample at or before `start` and every one after it up to `end`."""
        ...


class MemorySampleStore:
    """Samples in lists per service (a test double and the DB-less store)."""

    def __init__(self) -> None:
        self._rows: dict[str, list[Sample]] = {}

    async def add_samples(self, rows: list[tuple[str, Sample]]) -> None:
        for service, sample in rows:
            kept = self._rows.setdefault(service, [])
            bisect.insort(kept, sample, key=lambda s: s.time)

    async def samples(
        self, service: str, start: float, end: float, limit: int = 100_000
    ) -> list[Sample]:
        kept = self._rows.get(service, [])
        times = [s.time for s in kept]
        first = max(0, bisect.bisect_right(times, start) - 1)
        last = bisect.bisect_right(times, end)
        return kept[first:last][:limit]


async def series_between(
    store: SampleStore, service: str, start: float, end: float, max_points: int
) -> SliSeries:
    """A series rebuilt from the stored raw samples (reset-corrected afresh)."""
    series = SliSeries(max_points)
    for sample in await store.samples(service, start, end, limit=max_points):
        series.add(sample)
    return series


class SampleRecorder:
    """Buffers samples and writes them every `interval` seconds, in one statement."""

    def __init__(
        self,
        store: SampleStore,
        clock: Clock,
        *,
        interval: float = 1.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._buffer: list[tuple[str, Sample]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0

    def add(self, service: str, sample: Sample) -> None:
        """Never waits: the detection loop goes on while the batch is written."""
        self._buffer.append((service, sample))
        if len(self._buffer) > MAX_BUFFER:
            drop = len(self._buffer) - MAX_BUFFER
            del self._buffer[:drop]
            self.dropped += drop
            log.warning("SLI sample buffer full: %d oldest samples dropped", drop)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Write what is buffered now; on a failure the samples stay for the next flush."""
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                await self._store.add_samples(batch)
            except Exception:
                self._buffer[:0] = batch
                raise
            return len(batch)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="monitor:samples")

    async def _loop(self) -> None:
        while True:
            await self._clock.sleep(self._interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("writing SLI samples failed (kept for the next try): %s", exc)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            await self.flush()
        except Exception as exc:
            log.warning("last SLI samples not written: %s", exc)
