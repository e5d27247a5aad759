"""selfheal's `restore:` block of a remediation rule: how traffic goes back to the origin once
a kill switch masked the problem.

```yaml
restore:
  probe: {service: website, consecutive: 3, intervalSeconds: 2}
  steps: [90, 50, 0]        # % of users still on the fallback at each step; 0 = flag off
  holdSeconds: 30           # per step (or a list, one per step)
  maxFailureRate: 0.05      # of the requests the origin served during a hold
  backoff: {initialSeconds: 30, maxSeconds: 600}
  maxAttemptsPerHour: 4
  approval: false
```

The probe request itself (URL, bypass header, success rule) and its cadence
(`interval_seconds`, `consecutive`) are the service's `probe:` in monitor.yaml; the block here
says whose probe to use and may override the cadence for this remediation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from selfheal.core.documents import Node

DEFAULT_STEPS: tuple[int, ...] = (90, 50, 0)
DEFAULT_BACKOFF_MAX = 600.0


@dataclass(frozen=True, slots=True)
class RestorePolicy:
    steps: tuple[int, ...] = DEFAULT_STEPS
    hold_seconds: tuple[float, ...] = (30.0, 30.0, 30.0)
    """One per step (the last one is the watch after the flag went off)."""
    max_failure_rate: float = 0.05
    probe_service: str | None = None
    """Whose monitor.yaml probe to use (None: the problem's service)."""
    consecutive: int | None = None
    """Probes ok in a row to verify the origin (None: the monitor.yaml probe's)."""
    probe_interval_seconds: float | None = None
    """Seconds between probes (None: the monitor.yaml probe's `interval_seconds`)."""
    backoff_initial_seconds: float = 30.0
    backoff_max_seconds: float = DEFAULT_BACKOFF_MAX
    max_attempts_per_hour: int = 4
    approval: bool = False

    def hold(self, step: int) -> float:
        return self.hold_seconds[min(step, len(self.hold_seconds) - 1)]

    def backoff(self, failures: int) -> float:
        """The wait after the `failures`-th breach in a row (1, 2, …): doubling, capped."""
        wait = self.backoff_initial_seconds * 2 ** max(0, failures - 1)
        return float(min(wait, self.backoff_max_seconds))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RestorePolicy:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        for key in ("steps", "hold_seconds"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


def _positive(node: Node) -> float:
    value = node.number()
    if value <= 0:
        raise node.fail("must be greater than 0")
    return value


def _steps(node: Node) -> tuple[int, ...]:
    items = node.sequence()
    if not items:
        raise node.fail("needs at least one step")
    out: list[int] = []
    for item in items:
        value = item.integer()
        if not 0 <= value < 100:
            raise item.fail("a step is the % of users kept on the fallback: 0 to 99")
        if out and value >= out[-1]:
            raise item.fail("steps must go down (fewer users on the fallback each step)")
        out.append(value)
    if out[-1] != 0:
        raise items[-1].fail("the last step must be 0 (all users back on the origin)")
    return tuple(out)


def load_restore(node: Node) -> RestorePolicy:
    """The policy in a `restore:` node; `SpecError` with the key and line otherwise."""
    node.only(
        (
            "probe",
            "steps",
            "holdSeconds",
            "maxFailureRate",
            "backoff",
            "maxAttemptsPerHour",
            "approval",
        )
    )
    fields: dict[str, Any] = {}
    probe = node.get("probe")
    if probe is not None and probe.value is not None:
        probe.only(("service", "consecutive", "intervalSeconds"))
        if (service := probe.get("service")) is not None and service.value is not None:
            fields["probe_service"] = service.string()
        if (count := probe.get("consecutive")) is not None and count.value is not None:
            if count.integer() < 1:
                raise count.fail("must be at least 1")
            fields["consecutive"] = count.integer()
        if (every := probe.get("intervalSeconds")) is not None and every.value is not None:
            fields["probe_interval_seconds"] = _positive(every)
    steps: tuple[int, ...] = DEFAULT_STEPS
    if (raw := node.get("steps")) is not None and raw.value is not None:
        steps = _steps(raw)
    fields["steps"] = steps
    hold: tuple[float, ...] = (30.0,) * len(steps)
    if (raw := node.get("holdSeconds")) is not None and raw.value is not None:
        if isinstance(raw.value, list):
            hold = tuple(_positive(item) for item in raw.sequence())
            if len(hold) != len(steps):
                raise raw.fail(f"needs one hold per step ({len(steps)}), not {len(hold)}")
        else:
            hold = (_positive(raw),) * len(steps)
    fields["hold_seconds"] = hold
    if (raw := node.get("maxFailureRate")) is not None and raw.value is not None:
        rate = raw.number()
        if not 0 <= rate < 1:
            raise raw.fail("must be a fraction from 0 to below 1 (0.05 is 5 %)")
        fields["max_failure_rate"] = rate
    if (raw := node.get("backoff")) is not None and raw.value is not None:
        raw.only(("initialSeconds", "maxSeconds"))
        if (first := raw.get("initialSeconds")) is not None and first.value is not None:
            fields["backoff_initial_seconds"] = _positive(first)
            fields["backoff_max_seconds"] = max(
                DEFAULT_BACKOFF_MAX, fields["backoff_initial_seconds"]
            )
        if (most := raw.get("maxSeconds")) is not None and most.value is not None:
            fields["backoff_max_seconds"] = _positive(most)
            if fields["backoff_max_seconds"] < fields.get("backoff_initial_seconds", 0.0):
                raise most.fail("must not be below initialSeconds")
    if (raw := node.get("maxAttemptsPerHour")) is not None and raw.value is not None:
        if raw.integer() < 1:
            raise raw.fail("must be at least 1")
        fields["max_attempts_per_hour"] = raw.integer()
    if (raw := node.get("approval")) is not None and raw.value is not None:
        fields["approval"] = raw.boolean()
    return RestorePolicy(**fields)


__all__ = ["DEFAULT_STEPS", "RestorePolicy", "load_restore"]
