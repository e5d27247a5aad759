"""Evaluation like Keptn's lighthouse: fetch every SLI the slo.yaml names, score them.

SLI values come from registered `SliProvider`s (the monitor, Prometheus, …); `problem_open`
for a problem reported from outside follows the OPEN/RESOLVED notifications received for it.
Without an slo.yaml the objective is `problem_open = 0`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from selfheal.control.specs import (
    Sli,
    Slo,
    SpecError,
    default_slo,
    evaluate_slo,
    load_sli,
    load_slo,
)
from selfheal.core import SelfhealError, iso_from_epoch

log = logging.getLogger(__name__)
MONITOR_SOURCE = "selfheal/monitor"


@lru_cache(maxsize=256)
def _slo(text: str) -> Slo:
    return load_slo(text)


@lru_cache(maxsize=256)
def _sli(text: str) -> Sli:
    return load_sli(text)


@dataclass(frozen=True, slots=True)
class SliScope:
    """What an SLI is measured on; `queries` are the sli.yaml indicators (name → query)."""

    project: str
    stage: str
    service: str
    labels: Mapping[str, str] = field(default_factory=dict)
    problem: Mapping[str, Any] = field(default_factory=dict)
    queries: Mapping[str, str] = field(default_factory=dict)


class SliProvider(Protocol):
    async def get_sli(
        self, name: str, scope: SliScope, start: float, end: float
    ) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Evaluation:
    score: float
    result: str
    payload: dict[str, Any]
    values: dict[str, float | None]


ProblemOpen = Callable[[str], Awaitable[bool | None]]
Reader = Callable[[str], Awaitable[str | None]]


class Evaluator:
    """Scores a sequence's SLOs. `problem_open(context)` answers from the problem ledger."""

    def __init__(self, problem_open: ProblemOpen) -> None:
        self._providers: dict[str, SliProvider] = {}
        self._problem_open = problem_open

    def register(self, name: str, provider: SliProvider) -> None:
        self._providers[name] = provider

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._providers)

    async def evaluate(
        self,
        *,
        context: str,
        scope: SliScope,
        start: float,
        end: float,
        read: Reader,
        problem_source: str | None,
    ) -> Evaluation:
        slo_text = await read("slo.yaml")
        slo = _slo(slo_text) if slo_text else default_slo()
        sli_text = await read("sli.yaml")
        queries: Mapping[str, str] = {}
        if sli_text:
            try:
                queries = _sli(sli_text).indicators
            except SpecError:
                log.warning(
                    "sli.yaml of %s/%s/%s is invalid", scope.project, scope.stage, scope.service
                )
        scope = SliScope(
            scope.project, scope.stage, scope.service, scope.labels, scope.problem, queries
        )
        values: dict[str, float | None] = {}
        for objective in slo.objectives:
            values[objective.sli] = await self._value(
                objective.sli, context, scope, start, end, problem_source
            )
        result = evaluate_slo(slo, values)
        payload = result.to_evaluation_payload(
            time_start=iso_from_epoch(start), time_end=iso_from_epoch(end)
        )
        return Evaluation(float(result.score), str(result.result), payload, values)

    async def _value(
        self,
        name: str,
        context: str,
        scope: SliScope,
        start: float,
        end: float,
        problem_source: str | None,
    ) -> float | None:
        outside = problem_source is not None and problem_source != MONITOR_SOURCE
        if name == "problem_open" and (outside or "monitor" not in self._providers):
            state = await self._problem_open(context)
            if state is not None:
                return 1.0 if state else 0.0
        order = list(self._providers)
        if name in scope.queries and "prometheus" in self._providers:
            order.remove("prometheus")
            order.insert(0, "prometheus")
        for provider_name in order:
            try:
                value = await self._providers[provider_name].get_sli(name, scope, start, end)
            except SelfhealError as exc:
                log.warning("SLI %s from %s failed: %s", name, provider_name, exc)
                continue
            if value is not None:
                return value
        return None
