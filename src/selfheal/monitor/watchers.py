"""One watcher per monitored service: read the source, extend the SLI series, run detectors.

`tick(now)` is one step and is what the loop, the tests and the bench all call; the loop
only adds `await clock.sleep(interval)` and leadership. A source that answers nothing
usable puts the service in the visible "no_data" state and skips detection, so an
unreachable target never raises a problem by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfheal.monitor.detectors import Detector, Verdict, build_detectors
from selfheal.monitor.errors import NoData
from selfheal.monitor.services import ServiceSpec
from selfheal.monitor.slis import SliSeries
from selfheal.monitor.sources import Fetcher, Sample, Source, open_source
from selfheal.monitor.tracking import ProblemTracker

log = logging.getLogger(__name__)

PENDING = "pending"
OK = "ok"
NO_DATA = "no_data"


@dataclass
class WatchStatus:
    state: str = PENDING
    reason: str | None = None
    last_scrape: float | None = None
    scrapes: int = 0
    failures: int = 0


class Watcher:
    def __init__(
        self,
        spec: ServiceSpec,
        fetcher: Fetcher,
        tracker: ProblemTracker,
        *,
        sensitivity: str,
        timeout: float,
        max_points: int,
        record: Callable[[str, Sample], None] | None = None,
    ) -> None:
        self.spec = spec
        self.record = record
        """Where each scraped sample also goes (the shared store's batched writer)."""
        self.source: Source = open_source(spec, fetcher, timeout=timeout)
        self.tracker = tracker
        self.detectors: list[Detector] = build_detectors(spec, sensitivity)
        self.series = SliSeries(max_points)
        self.status = WatchStatus()
        self.last_verdicts: list[Verdict] = []

    async def tick(self, now: float) -> list[Verdict]:
        self.status.scrapes += 1
        try:
            sample = await self.source.read(now)
        except NoData as exc:
            if self.status.state != NO_DATA:
                log.warning("service %s: no data (%s)", self.spec.name, exc.message)
            self.status.state, self.status.reason = NO_DATA, exc.message
            self.status.failures += 1
            return []
        self.series.add(sample)
        if self.record is not None:
            self.record(self.spec.name, sample)
        self.status.state, self.status.reason, self.status.last_scrape = OK, None, now
        frozen = self.tracker.is_open(self.spec.name)
        verdicts = [d.evaluate(self.series, now, frozen=frozen) for d in self.detectors]
        self.last_verdicts = verdicts
        await self.tracker.observe(self.spec, verdicts, now)
        return verdicts

    def describe(self) -> dict[str, Any]:
        src = self.spec.source
        return {
            "name": self.spec.name,
            "tags": self.spec.tags,
            "source": {"kind": src.kind, "url": src.url, "interval": src.interval},
            "detectors": [d.kind for d in self.detectors],
            "state": self.status.state,
            "reason": self.status.reason,
            "lastScrape": self.status.last_scrape,
            "scrapes": self.status.scrapes,
            "failures": self.status.failures,
            "points": len(self.series),
            "problemOpen": self.tracker.is_open(self.spec.name),
        }
