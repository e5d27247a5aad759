"""The monitor as an SLI source of the control plane's evaluations.

The control plane cannot import the monitor (they are independent contexts), so this
adapter lives here: a sequence's project/stage/service select the monitored service whose
`keptn_*` tags match, and the monitor answers `failure_rate` (percent), `response_time_p50/95/99`
(ms), `throughput` (req/s) and `problem_open` (1/0) over the evaluation window.
"""

from __future__ import annotations

from typing import Protocol

from selfheal.control import SliScope


class SliSource(Protocol):
    async def sli(
        self, scope_tags: dict[str, str], name: str, start: float, end: float
    ) -> float | None: ...


class MonitorSliProvider:
    """`SliProvider` over the monitor service (registered as "monitor")."""

    def __init__(self, monitor: SliSource) -> None:
        self._monitor = monitor

    async def get_sli(self, name: str, scope: SliScope, start: float, end: float) -> float | None:
        tags = {"project": scope.project, "stage": scope.stage, "service": scope.service}
        return await self._monitor.sli(tags, name, start, end)
