"""SLIs from counter deltas over sliding windows, kept as a bounded in-memory series.

Counters are stored reset-corrected: when a counter goes down (the process restarted), the
value before the reset is added to an offset, so every delta stays an increase. A missed
scrape simply makes the next delta span a longer time; rates divide by the real span.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from selfheal.monitor.sources import Sample


@dataclass(frozen=True, slots=True)
class Window:
    """What happened between two points."""

    start: float
    end: float
    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...] = ()
    origin: tuple[float, float] | None = None
    """(requests, errors) served by the origin (the `origin_slice`); None if not sliced."""

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def failure_rate(self) -> float | None:
        """Fraction 0..1 of failed requests; None without requests."""
        return self.errors / self.requests if self.requests > 0 else None

    @property
    def throughput(self) -> float | None:
        return self.requests / self.seconds if self.seconds > 0 else None

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) in seconds, interpolated inside a bucket like PromQL does."""
        return histogram_quantile(q, self.buckets)


def histogram_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            in_bucket = count - prev_count
            if in_bucket <= 0:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / in_bucket
        prev_bound, prev_count = bound, count
    return prev_bound


@dataclass(frozen=True, slots=True)
class Point:
    time: float
    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...]
    origin: tuple[float, float] | None = None


def _dropped(before: tuple[float, float] | None, after: tuple[float, float] | None) -> bool:
    """The origin's counters went down: the target restarted."""
    return (
        before is not None and after is not None and (after[0] < before[0] or after[1] < before[1])
    )


class SliSeries:
    """The last `max_points` reset-corrected points of one service."""

    def __init__(self, max_points: int = 4000) -> None:
        self.max_points = max_points
        self._points: list[Point] = []
        self._times: list[float] = []
        self._last_raw: Sample | None = None
        self._offset_req = 0.0
        self._offset_err = 0.0
        self._offset_buckets: dict[float, float] = {}
        self._offset_origin = (0.0, 0.0)
        self.resets = 0

    def __len__(self) -> int:
        return len(self._points)

    def add(self, sample: Sample) -> None:
        last = self._last_raw
        if last is not None:
            if sample.time <= last.time:
                return
            if (
                sample.requests < last.requests
                or sample.errors < last.errors
                or _dropped(last.origin, sample.origin)
            ):
                self.resets += 1
                self._offset_req += last.requests
                self._offset_err += last.errors
                for le, count in last.buckets:
                    self._offset_buckets[le] = self._offset_buckets.get(le, 0.0) + count
                if last.origin is not None:
                    req, err = self._offset_origin
                    self._offset_origin = (req + last.origin[0], err + last.origin[1])
        self._last_raw = sample
        origin = None
        if sample.origin is not None:
            origin = (
                sample.origin[0] + self._offset_origin[0],
                sample.origin[1] + self._offset_origin[1],
            )
        point = Point(
            sample.time,
            sample.requests + self._offset_req,
            sample.errors + self._offset_err,
            tuple((le, c + self._offset_buckets.get(le, 0.0)) for le, c in sample.buckets),
            origin,
        )
        self._points.append(point)
        self._times.append(point.time)
        if len(self._points) > self.max_points + self.max_points // 4:
            drop = len(self._points) - self.max_points
            del self._points[:drop]
            del self._times[:drop]

    @property
    def last_time(self) -> float | None:
        return self._times[-1] if self._times else None

    @property
    def first_time(self) -> float | None:
        return self._times[0] if self._times else None

    def _at_or_before(self, t: float) -> int:
        return bisect.bisect_right(self._times, t) - 1

    def between(self, start: float, end: float) -> Window | None:
        """The delta from the last point at or before `start` (or the first point) to the
        last point at or before `end`; None when fewer than two points fall in range."""
        j = self._at_or_before(end)
        if j < 1:
            return None
        i = max(0, self._at_or_before(start))
        if i >= j:
            return None
        a, b = self._points[i], self._points[j]
        buckets: tuple[tuple[float, float], ...] = ()
        if a.buckets and b.buckets:
            before = dict(a.buckets)
            buckets = tuple((le, max(0.0, c - before.get(le, 0.0))) for le, c in b.buckets)
        elif b.buckets and i == 0 and a.time == self._times[0]:
            buckets = ()
        origin = None
        if a.origin is not None and b.origin is not None:
            origin = (max(0.0, b.origin[0] - a.origin[0]), max(0.0, b.origin[1] - a.origin[1]))
        return Window(
            a.time,
            b.time,
            max(0.0, b.requests - a.requests),
            max(0.0, b.errors - a.errors),
            buckets,
            origin,
        )

    def last(self, seconds: float, now: float) -> Window | None:
        """The window of the last `seconds` ending at `now`."""
        return self.between(now - seconds, now)

    def steps(self, start: float, end: float, step: float) -> list[Window]:
        """Consecutive windows of `step` seconds (for charts and the query API)."""
        out: list[Window] = []
        if step <= 0:
            return out
        first = self.first_time
        if first is None:
            return out
        t = max(start, first)
        bound = 0
        while t < end and bound < 10_000:
            w = self.between(t, min(end, t + step))
            if w is not None and w.end > t:
                out.append(w)
            t += step
            bound += 1
        return out
