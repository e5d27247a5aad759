"""A scraped app for monitor tests: cumulative Prometheus counters (and a latency
histogram) that a test pushes second by second into a `MemoryFetcher`."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfheal.monitor.sources import MemoryFetcher

URL = "http://app.test/metrics"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Traffic:
    """The scraped app: cumulative counters (and a latency histogram) that tests push."""

    fetcher: MemoryFetcher
    url: str = URL
    requests: int = 0
    errors: int = 0
    buckets: dict[float, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    def second(self, total: int, failed: int, latency: float = 0.03) -> None:
        self.requests += total
        self.errors += failed
        for le in BUCKETS:
            if latency <= le:
                self.buckets[le] += total
        lines = [
            f'http_requests_total{{code="200"}} {self.requests - self.errors}',
            f'http_requests_total{{code="500"}} {self.errors}',
            *(
                f'http_request_duration_seconds_bucket{{le="{le}"}} {n}'
                for le, n in self.buckets.items()
            ),
            f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.requests}',
            f"http_request_duration_seconds_count {self.requests}",
        ]
        self.fetcher.bodies[self.url] = (200, "\n".join(lines) + "\n")
