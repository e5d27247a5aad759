"""Scoring an SLO like Keptn's lighthouse-service, as a pure function.

Per objective: the `pass` entries are ORed, the criteria inside one entry ANDed; pass scores the
weight, warning half of it, fail 0. Objectives without pass criteria are informative (status
`info`, weight not counted). A missing value fails its objective. A failed key SLI fails the
evaluation whatever the score. total = 100 × achieved / achievable, compared with `total_score`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from selfheal.control.specs.slo import Comparison, CriteriaSet, Objective, Slo

MISSING_MESSAGE = "no value received from SLI provider"


@dataclass(frozen=True, slots=True)
class Target:
    criteria: str
    target_value: float
    violated: bool

    def to_payload(self) -> dict[str, Any]:
        return {
            "criteria": self.criteria,
            "targetValue": self.target_value,
            "violated": self.violated,
        }


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    """One objective's outcome, shaped like an `indicatorResults` entry of evaluation.finished."""

    metric: str
    value: float | None
    display_name: str
    status: str
    score: float
    pass_targets: tuple[Target, ...] = ()
    warning_targets: tuple[Target, ...] = ()
    key_sli: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "status": self.status,
            "value": {
                "metric": self.metric,
                "value": self.value if self.value is not None else 0.0,
                "success": self.value is not None,
                "message": "" if self.value is not None else MISSING_MESSAGE,
            },
            "displayName": self.display_name,
            "keySli": self.key_sli,
            "passTargets": [t.to_payload() for t in self.pass_targets],
            "warningTargets": [t.to_payload() for t in self.warning_targets],
        }


@dataclass(frozen=True, slots=True)
class SloResult:
    score: float
    result: str
    indicators: tuple[IndicatorResult, ...]
    key_sli_failed: bool = False

    def to_evaluation_payload(
        self, *, time_start: str | None = None, time_end: str | None = None
    ) -> dict[str, Any]:
        """The `evaluation` object of an `sh.keptn.event.evaluation.finished` event."""
        payload: dict[str, Any] = {
            "result": self.result,
            "score": self.score,
            "indicatorResults": [indicator.to_payload() for indicator in self.indicators],
        }
        if time_start is not None:
            payload["timeStart"] = time_start
        if time_end is not None:
            payload["timeEnd"] = time_end
        return payload


def evaluate_slo(
    slo: Slo,
    values: Mapping[str, float | None],
    previous: Sequence[Mapping[str, float]] = (),
) -> SloResult:
    """Score `values` against `slo`. `previous` holds earlier evaluations' SLI values, newest
    first, already filtered by `slo.comparison.includes(result)`; the first
    `slo.comparison.count` of them form the baseline of relative criteria."""
    earlier = list(previous[: slo.comparison.count])
    indicators: list[IndicatorResult] = []
    achievable = 0.0
    key_failed = False
    for objective in slo.objectives:
        if not objective.informative:
            achievable += objective.weight
        baseline = _baseline(objective.sli, earlier, slo.comparison)
        indicator = _score(objective, _number(values.get(objective.sli)), baseline)
        if indicator.status == "fail" and objective.key_sli:
            key_failed = True
        indicators.append(indicator)
    if achievable == 0:
        score = 100.0
        result = "fail" if key_failed else "pass"
    else:
        score = 100.0 * sum(i.score for i in indicators) / achievable
        result = _result(slo, score, key_failed)
    return SloResult(
        score=score, result=result, indicators=tuple(indicators), key_sli_failed=key_failed
    )


def _result(slo: Slo, score: float, key_failed: bool) -> str:
    if key_failed:
        return "fail"
    if score >= slo.total_pass:
        return "pass"
    if slo.total_warning is not None and score >= slo.total_warning:
        return "warning"
    return "fail"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _score(objective: Objective, value: float | None, baseline: float | None) -> IndicatorResult:
    if value is None:
        return _indicator(objective, None, "fail", 0.0)
    if objective.informative:
        return _indicator(objective, value, "info", 0.0)
    passed, pass_targets = _any_set(objective.pass_criteria, value, baseline)
    if passed:
        return _indicator(objective, value, "pass", objective.weight, pass_targets)
    warned, warning_targets = _any_set(objective.warning_criteria, value, baseline)
    if warned:
        return _indicator(
            objective, value, "warning", 0.5 * objective.weight, pass_targets, warning_targets
        )
    return _indicator(objective, value, "fail", 0.0, pass_targets, warning_targets)


def _indicator(
    objective: Objective,
    value: float | None,
    status: str,
    score: float,
    pass_targets: tuple[Target, ...] = (),
    warning_targets: tuple[Target, ...] = (),
) -> IndicatorResult:
    return IndicatorResult(
        metric=objective.sli,
        value=value,
        display_name=objective.display_name,
        status=status,
        score=score,
        pass_targets=pass_targets,
        warning_targets=warning_targets,
        key_sli=objective.key_sli,
    )


def _any_set(
    sets: tuple[CriteriaSet, ...], value: float, baseline: float | None
) -> tuple[bool, tuple[Target, ...]]:
    """OR over the sets, AND inside each; every criterion is reported as a target."""
    satisfied = False
    targets: list[Target] = []
    for criteria_set in sets:
        all_hold = True
        for criterion in criteria_set.criteria:
            target = criterion.target(baseline)
            # Keptn: a relative criterion without earlier results holds.
            holds = True if target is None else criterion.holds(value, target)
            targets.append(Target(criterion.text, target if target is not None else 0.0, not holds))
            all_hold = all_hold and holds
        satisfied = satisfied or all_hold
    return satisfied, tuple(targets)


def _baseline(sli: str, earlier: list[Mapping[str, float]], comparison: Comparison) -> float | None:
    found = [_number(result.get(sli)) for result in earlier]
    numbers = sorted(v for v in found if v is not None)
    if not numbers:
        return None
    if comparison.aggregate_function == "avg":
        return sum(numbers) / len(numbers)
    quantile = {"p50": 0.5, "p90": 0.9, "p95": 0.95}[comparison.aggregate_function]
    return _percentile(numbers, quantile)


def _percentile(ordered: list[float], quantile: float) -> float:
    """Linear interpolation at rank quantile × (n + 1), clamped to the ends (as lighthouse)."""
    rank = quantile * (len(ordered) + 1)
    if rank < 1:
        return ordered[0]
    if rank >= len(ordered):
        return ordered[-1]
    lower = ordered[int(rank) - 1]
    upper = ordered[int(rank)]
    return lower + (rank - math.floor(rank)) * (upper - lower)


__all__ = ["IndicatorResult", "SloResult", "Target", "evaluate_slo"]
