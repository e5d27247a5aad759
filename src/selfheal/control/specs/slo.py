"""Keptn's slo.yaml: objectives with pass/warning criteria, comparison rules and total score.

Criteria are parsed when the file is loaded, so a typo such as `"<<5"` is rejected on upload
with its line rather than failing an evaluation later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfheal.core.documents import Node, parse_document

_CRITERION = re.compile(r"(<=|>=|<|>|=)([+-]?)(\d+(?:\.\d*)?|\.\d+)(%?)")
COMPARE_WITH = ("single_result", "several_results")
AGGREGATES = ("avg", "p50", "p90", "p95")
INCLUDE_RESULTS = ("all", "pass", "pass_or_warn")


@dataclass(frozen=True, slots=True)
class Criterion:
    """`<600` (absolute) or `<=+10%` / `>-5%` / `<+20` (relative to earlier results)."""

    text: str
    operator: str
    amount: float
    relative: bool = False
    percent: bool = False
    increase: bool = True

    @classmethod
    def parse(cls, text: str) -> Criterion:
        compact = text.replace(" ", "")
        match = _CRITERION.fullmatch(compact)
        if match is None:
            raise ValueError(f"invalid criterion {text!r} (e.g. '<600', '<=+10%', '=0')")
        operator, sign, number, percent = match.groups()
        return cls(
            text=text,
            operator=operator,
            amount=float(number),
            relative=bool(sign or percent),
            percent=bool(percent),
            increase=sign != "-",
        )

    def target(self, baseline: float | None) -> float | None:
        """The threshold; for a relative criterion None when there is no baseline."""
        if not self.relative:
            return self.amount
        if baseline is None:
            return None
        step = baseline * self.amount / 100.0 if self.percent else self.amount
        return baseline + step if self.increase else baseline - step

    def holds(self, value: float, target: float) -> bool:
        return {
            "<": value < target,
            "<=": value <= target,
            "=": value == target,
            ">=": value >= target,
            ">": value > target,
        }[self.operator]


@dataclass(frozen=True, slots=True)
class CriteriaSet:
    """One `- criteria: [...]` entry: all of its criteria must hold."""

    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Objective:
    sli: str
    display_name: str = ""
    pass_criteria: tuple[CriteriaSet, ...] = ()
    warning_criteria: tuple[CriteriaSet, ...] = ()
    weight: float = 1.0
    key_sli: bool = False

    @property
    def informative(self) -> bool:
        """No pass criteria: reported, never scored."""
        return not self.pass_criteria


@dataclass(frozen=True, slots=True)
class Comparison:
    compare_with: str = "single_result"
    include_result_with_score: str = "all"
    number_of_comparison_results: int = 1
    aggregate_function: str = "avg"

    @property
    def count(self) -> int:
        """How many earlier results relative criteria compare with."""
        return 1 if self.compare_with == "single_result" else self.number_of_comparison_results

    def includes(self, result: str) -> bool:
        """Should an earlier evaluation with this result serve as a baseline?"""
        if self.include_result_with_score == "pass":
            return result == "pass"
        if self.include_result_with_score == "pass_or_warn":
            return result in ("pass", "warning")
        return True


@dataclass(frozen=True, slots=True)
class Slo:
    objectives: tuple[Objective, ...]
    comparison: Comparison = Comparison()
    total_pass: float = 90.0
    total_warning: float | None = 75.0
    spec_version: str = "1.0"
    filter: tuple[tuple[str, str], ...] = ()


def default_slo() -> Slo:
    """Used when a service has no slo.yaml: the problem must be closed. Keptn passed blindly."""
    return Slo(
        objectives=(
            Objective(
                sli="problem_open",
                display_name="Problem still open",
                pass_criteria=(CriteriaSet((Criterion.parse("=0"),)),),
                key_sli=True,
            ),
        )
    )


def load_slo(text: str) -> Slo:
    root = parse_document(text)
    root.only(("spec_version", "comparison", "filter", "objectives", "total_score"))
    spec_version = root.require("spec_version").text()
    comparison = _comparison(root.get("comparison"))
    filters: tuple[tuple[str, str], ...] = ()
    raw_filter = root.get("filter")
    if raw_filter is not None and raw_filter.value is not None:
        filters = tuple((key, value.text()) for key, value in raw_filter.mapping().items())
    objectives = tuple(_objective(node) for node in root.require("objectives").sequence())
    total_pass: float = 90.0
    total_warning: float | None = 75.0
    raw_total = root.get("total_score")
    if raw_total is not None and raw_total.value is not None:
        raw_total.only(("pass", "warning"))
        total_pass = _percentage(raw_total.require("pass"))
        warning = raw_total.get("warning")
        total_warning = (
            _percentage(warning) if warning is not None and warning.value is not None else None
        )
    return Slo(
        objectives=objectives,
        comparison=comparison,
        total_pass=total_pass,
        total_warning=total_warning,
        spec_version=spec_version,
        filter=filters,
    )


def _percentage(node: Node) -> float:
    raw = node.text().strip().removesuffix("%")
    try:
        return float(raw)
    except ValueError:
        raise node.fail("must be a percentage like '90%'") from None


def _choice(node: Node | None, choices: tuple[str, ...], default: str) -> str:
    if node is None or node.value is None:
        return default
    value = node.string()
    if value not in choices:
        raise node.fail(f"must be one of: {', '.join(choices)}")
    return value


def _comparison(node: Node | None) -> Comparison:
    if node is None or node.value is None:
        return Comparison()
    node.only(
        (
            "compare_with",
            "include_result_with_score",
            "number_of_comparison_results",
            "aggregate_function",
        )
    )
    count_node = node.get("number_of_comparison_results")
    count = 1
    if count_node is not None and count_node.value is not None:
        count = count_node.integer()
        if count < 1:
            raise count_node.fail("must be at least 1")
    return Comparison(
        compare_with=_choice(node.get("compare_with"), COMPARE_WITH, "single_result"),
        include_result_with_score=_choice(
            node.get("include_result_with_score"), INCLUDE_RESULTS, "all"
        ),
        number_of_comparison_results=count,
        aggregate_function=_choice(node.get("aggregate_function"), AGGREGATES, "avg"),
    )


def _objective(node: Node) -> Objective:
    node.only(("sli", "displayName", "pass", "warning", "weight", "key_sli"))
    weight_node = node.get("weight")
    weight = 1.0
    if weight_node is not None and weight_node.value is not None:
        weight = weight_node.number()
        if weight < 0:
            raise weight_node.fail("must not be negative")
    key_node = node.get("key_sli")
    display = node.get("displayName")
    return Objective(
        sli=node.require("sli").string(),
        display_name=display.text() if display is not None and display.value is not None else "",
        pass_criteria=_criteria_sets(node.get("pass")),
        warning_criteria=_criteria_sets(node.get("warning")),
        weight=weight,
        key_sli=key_node.boolean()
        if key_node is not None and key_node.value is not None
        else False,
    )


def _criteria_sets(node: Node | None) -> tuple[CriteriaSet, ...]:
    if node is None or node.value is None:
        return ()
    sets: list[CriteriaSet] = []
    for entry in node.sequence():
        entry.only(("criteria",))
        criteria: list[Criterion] = []
        for item in entry.require("criteria").sequence():
            try:
                criteria.append(Criterion.parse(item.text()))
            except ValueError as exc:
                raise item.fail(str(exc)) from None
        sets.append(CriteriaSet(tuple(criteria)))
    return tuple(sets)


__all__ = [
    "Comparison",
    "CriteriaSet",
    "Criterion",
    "Objective",
    "Slo",
    "default_slo",
    "load_slo",
]
