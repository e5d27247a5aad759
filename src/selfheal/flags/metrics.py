"""SDK usage metrics (`POST /api/client/metrics`) and registrations, per flag over time.

Registrations are kept in memory for the UI's "applications" view, bounded: at most `limit`
(app, instance) pairs, each dropped `ttl` seconds after it was last seen, the least recently
seen first when full. SDK instance ids change on every restart, so without a bound the
table grows with every deploy of every client.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from selfheal.core import Clock, epoch_from_iso
from selfheal.flags import validation as v
from selfheal.flags.model import MetricsBucket
from selfheal.flags.store import SqlFlagStore


@dataclass
class Application:
    app_name: str
    instance_id: str
    sdk_version: str
    strategies: list[str]
    environment: str
    last_seen: float


class UsageMetrics:
    def __init__(
        self,
        store: SqlFlagStore,
        clock: Clock,
        *,
        bucket_seconds: int = 60,
        limit: int = 5000,
        ttl: float = 2 * 24 * 3600.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._bucket = bucket_seconds
        self._limit = max(1, limit)
        self._ttl = ttl
        self._applications: OrderedDict[tuple[str, str], Application] = OrderedDict()

    @property
    def applications(self) -> dict[tuple[str, str], Application]:
        """Registrations seen within the last `ttl` seconds, least recently seen first."""
        self._expire()
        return dict(self._applications)

    def _expire(self) -> None:
        cutoff = self._clock.now() - self._ttl
        while self._applications:
            oldest = next(iter(self._applications.values()))
            if oldest.last_seen >= cutoff:
                break
            self._applications.popitem(last=False)

    def register(self, raw: Any, environment: str) -> None:
        d = v.obj(raw, "body")
        app = v.string(d.get("appName"), "appName") or ""
        instance = str(d.get("instanceId") or "")
        strategies = [s for s in d.get("strategies") or () if isinstance(s, str)]
        key = (app[:255], instance[:255])
        self._applications.pop(key, None)
        self._applications[key] = Application(
            key[0],
            key[1],
            str(d.get("sdkVersion") or "")[:100],
            strategies[:100],
            environment,
            self._clock.now(),
        )
        self._expire()
        while len(self._applications) > self._limit:
            self._applications.popitem(last=False)

    def _start(self, value: Any) -> int:
        when = self._clock.now()
        if isinstance(value, str):
            try:
                when = epoch_from_iso(value)
            except ValueError as exc:
                raise v.fail("must be an RFC 3339 time", "bucket.start") from exc
        return int(when // self._bucket * self._bucket)

    async def record(self, raw: Any, environment: str) -> int:
        """Store one SDK report; returns how many flags it counted."""
        d = v.obj(raw, "body")
        app = v.string(d.get("appName"), "appName") or ""
        bucket = v.obj(d.get("bucket"), "bucket")
        toggles = v.obj(bucket.get("toggles") or {}, "bucket.toggles")
        start = self._start(bucket.get("start"))
        rows: list[MetricsBucket] = []
        for name, counts in toggles.items():
            c = v.obj(counts, f"bucket.toggles.{name}")
            yes, no = c.get("yes", 0), c.get("no", 0)
            for field, value in (("yes", yes), ("no", no)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise v.fail("must be a non-negative integer", f"bucket.toggles.{name}.{field}")
            if yes or no:
                rows.append(MetricsBucket(name, app, environment, start, yes, no))
        await self._store.add_metrics(rows)
        return len(rows)

    async def for_flag(self, feature: str, *, hours: float = 48) -> list[MetricsBucket]:
        since = int(self._clock.now() - hours * 3600)
        return await self._store.metrics(feature, since=since)
