"""The monitor's own view on `/metrics`: what it sees of every watched service, read at
scrape time from the watchers (no second bookkeeping that could drift)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from selfheal.monitor.watchers import OK

if TYPE_CHECKING:
    from selfheal.monitor.service import MonitorService

WINDOW_SECONDS = 60.0


class MonitorCollector(Collector):
    """`selfheal_monitor_*` per service: scrape health, failure rate and request rate over the
    last minute, and whether a problem is open (and mitigated)."""

    def __init__(self, service: MonitorService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        labels = ["service"]
        up = GaugeMetricFamily(
            "selfheal_monitor_service_up",
            "1 if the last scrape of the service succeeded",
            labels=labels,
        )
        problem = GaugeMetricFamily(
            "selfheal_monitor_problem_open",
            "1 while the service has an open problem",
            labels=labels,
        )
        mitigated = GaugeMetricFamily(
            "selfheal_monitor_problem_mitigated",
            "1 while the service's open problem is masked by a fallback (origin not yet restored)",
            labels=labels,
        )
        failure = GaugeMetricFamily(
            "selfheal_monitor_failure_ratio",
            f"Failed share of requests over the last {WINDOW_SECONDS:.0f} s",
            labels=labels,
        )
        rate = GaugeMetricFamily(
            "selfheal_monitor_request_rate",
            f"Requests per second over the last {WINDOW_SECONDS:.0f} s",
            labels=labels,
        )
        scrapes = CounterMetricFamily(
            "selfheal_monitor_scrapes", "Scrapes attempted", labels=labels
        )
        failures = CounterMetricFamily(
            "selfheal_monitor_scrape_failures", "Scrapes that found no data", labels=labels
        )
        now = self._service.clock.now()
        for name, watcher in sorted(self._service.watchers.items()):
            up.add_metric([name], 1.0 if watcher.status.state == OK else 0.0)
            problem.add_metric([name], 1.0 if watcher.tracker.is_open(name) else 0.0)
            mitigated.add_metric([name], 1.0 if watcher.tracker.is_mitigated(name) else 0.0)
            scrapes.add_metric([name], float(watcher.status.scrapes))
            failures.add_metric([name], float(watcher.status.failures))
            window = watcher.series.between(now - WINDOW_SECONDS, now)
            if window is not None and window.seconds > 0:
                rate.add_metric([name], window.requests / window.seconds)
                if window.failure_rate is not None:
                    failure.add_metric([name], window.failure_rate)
        yield from (up, problem, mitigated, failure, rate, scrapes, failures)
