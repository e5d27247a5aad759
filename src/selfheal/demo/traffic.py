"""What the load generator saw: one `Sample` per request, and per-second `Bucket`s of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it left (epoch s, taken as the request is issued), how long it took,
    its status (0 = no answer), who served it (`X-Served-By`: app, cdn, or '-' without an
    answer) and when the website decided that (`X-Served-At`, the server's clock; None
    without an answer)."""

    sent_at: float
    latency: float
    status: int
    served_by: str
    served_at: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400

    @property
    def done_at(self) -> float:
        return self.sent_at + self.latency


@dataclass(slots=True)
class Bucket:
    """Requests sent in [start, start + width)."""

    start: float
    width: float
    count: int = 0
    errors: int = 0
    served_by: Counter[str] = field(default_factory=Counter)

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    def share(self, who: str) -> float:
        return self.served_by[who] / self.count if self.count else 0.0

    def as_dict(self, origin: float = 0.0) -> dict[str, object]:
        return {
            "t": round(self.start - origin, 3),
            "requests": self.count,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "served_by": dict(self.served_by),
        }


def bucketize(
    samples: Iterable[Sample], width: float = 1.0, start: float | None = None
) -> list[Bucket]:
    """Group samples by send time into consecutive buckets (empty ones included)."""
    ordered = sorted(samples, key=lambda s: s.sent_at)
    if not ordered:
        return []
    origin = ordered[0].sent_at if start is None else start
    last = int((ordered[-1].sent_at - origin) // width)
    buckets = [Bucket(start=origin + i * width, width=width) for i in range(max(last, 0) + 1)]
    for s in ordered:
        index = int((s.sent_at - origin) // width)
        if index < 0:
            continue
        b = buckets[index]
        b.count += 1
        b.errors += 0 if s.ok else 1
        b.served_by[s.served_by] += 1
    return buckets


def totals(samples: Sequence[Sample]) -> dict[str, object]:
    """Counts by status and by served_by, and latency percentiles (ms)."""
    statuses = Counter(str(s.status) for s in samples)
    served = Counter(s.served_by for s in samples)
    latencies = sorted(s.latency for s in samples if s.status)
    return {
        "requests": len(samples),
        "errors": sum(1 for s in samples if not s.ok),
        "statuses": dict(sorted(statuses.items())),
        "served_by": dict(sorted(served.items())),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.5) * 1000, 2),
            "p95": round(percentile(latencies, 0.95) * 1000, 2),
            "max": round((latencies[-1] if latencies else 0.0) * 1000, 2),
        },
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (0.0 for none)."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, round(q * len(values) + 0.5) - 1))
    return values[rank]
