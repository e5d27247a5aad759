"""SDK usage metrics (`POST /api/client/metrics`) and registrations, per flag over time."""

from __future__ import annotations

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
    def __init__(self, store: SqlFlagStore, clock: Clock, *, bucket_seconds: int = 60) -> None:
        self._store = store
        self._clock = clock
        self._bucket = bucket_seconds
        self.applications: dict[tuple[str, str], Application] = {}

    def register(self, raw: Any, environment: str) -> None:
        d = v.obj(raw, "body")
        app = v.string(d.get("appName"), "appName") or ""
        instance = str(d.get("instanceId") or "")
        strategies = [s for s in d.get("strategies") or () if isinstance(s, str)]
        self.applications[(app, instance)] = Application(
            app,
            instance,
            str(d.get("sdkVersion") or ""),
            strategies,
            environment,
            self._clock.now(),
        )

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
