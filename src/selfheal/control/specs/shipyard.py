"""The shipyard: which sequences each stage runs, their tasks, waits and triggers.

Accepts Keptn's `spec.keptn.sh/0.2.x` shipyard and the legacy 0.6 one (`stages:` with
`remediation_strategy: automated`), which becomes a synthesized `remediation` sequence
get-action → action → evaluation (waiting `LEGACY_EVALUATION_WAIT` seconds before evaluating).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from selfheal.core.documents import Node, SpecError, check_header, parse_document

SHIPYARD_API = re.compile(r"spec\.keptn\.sh/0\.2\.\d+")
LEGACY_EVALUATION_WAIT = 600.0
"""Keptn's 10 minutes: long enough for the monitor's window to see the effect of the action."""

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def parse_duration(text: str) -> float:
    """A Go duration ("10m", "30s", "1h30m", "1.5h", "0") in seconds; ValueError otherwise."""
    text = text.strip()
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(text):
        match = _DURATION.match(text, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r} (use Go durations like 10m, 30s, 1h30m)")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not text:
        raise ValueError("empty duration")
    return total


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    triggered_after: float = 0.0
    properties: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Trigger:
    """`triggeredOn` entry: `event` is `<stage>.<sequence>.finished`; `match` the selector."""

    event: str
    match: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def matches(self, event_type: str, result: str | None) -> bool:
        """Does a finished sequence with this result start us? Selector keys `result` and
        `<task>.result` compare with `result`; any other key cannot be checked and never matches."""
        short = event_type.removeprefix("sh.keptn.event.")
        if short != self.event:
            return False
        for key, wanted in self.match.items():
            if key != "result" and not key.endswith(".result"):
                return False
            if result is None or result != wanted:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Sequence:
    name: str
    tasks: tuple[Task, ...]
    triggered_on: tuple[Trigger, ...] = ()


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    sequences: tuple[Sequence, ...]

    def sequence(self, name: str) -> Sequence | None:
        return next((s for s in self.sequences if s.name == name), None)


@dataclass(frozen=True, slots=True)
class Shipyard:
    name: str
    stages: tuple[Stage, ...]
    api_version: str
    legacy: bool = False

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def sequence(self, stage: str, name: str) -> Sequence | None:
        found = self.stage(stage)
        return found.sequence(name) if found is not None else None

    def sequences_triggered_by(
        self, event_type: str, result: str | None
    ) -> list[tuple[str, Sequence]]:
        """(stage name, sequence) pairs whose `triggeredOn` fires for this
        `<stage>.<sequence>.finished` event (full `sh.keptn.event.…` type or the short form)."""
        return [
            (stage.name, sequence)
            for stage in self.stages
            for sequence in stage.sequences
            if any(trigger.matches(event_type, result) for trigger in sequence.triggered_on)
        ]


def load_shipyard(text: str, *, legacy_evaluation_wait: float = LEGACY_EVALUATION_WAIT) -> Shipyard:
    root = parse_document(text)
    if "apiVersion" not in root.mapping() and "stages" in root.mapping():
        return _legacy(root, legacy_evaluation_wait)
    root.only(("apiVersion", "kind", "metadata", "spec"))
    version = check_header(root, api_version=SHIPYARD_API, kind="Shipyard")
    name = _metadata_name(root)
    spec = root.require("spec")
    spec.only(("stages",))
    stages = _unique([_stage(node) for node in spec.require("stages").sequence()], "stage")
    return Shipyard(name=name, stages=tuple(stages), api_version=version)


def _metadata_name(root: Node) -> str:
    metadata = root.get("metadata")
    if metadata is None or metadata.value is None:
        return ""
    name = metadata.get("name")
    return name.text() if name is not None and name.value is not None else ""


def _unique(items: list[tuple[Any, Node]], what: str) -> list[Any]:
    seen: set[str] = set()
    for item, node in items:
        if item.name in seen:
            raise node.fail(f"duplicate {what} name {item.name!r}")
        seen.add(item.name)
    return [item for item, _ in items]


def _stage(node: Node) -> tuple[Stage, Node]:
    node.only(("name", "sequences"))
    name = node.require("name").string()
    raw = node.get("sequences")
    sequences = [] if raw is None or raw.value is None else raw.sequence()
    return Stage(
        name=name, sequences=tuple(_unique([_sequence(s) for s in sequences], "sequence"))
    ), node


def _sequence(node: Node) -> tuple[Sequence, Node]:
    node.only(("name", "tasks", "triggeredOn"))
    name = node.require("name").string()
    tasks = tuple(_task(task) for task in node.require("tasks").sequence())
    raw = node.get("triggeredOn")
    triggers = (
        () if raw is None or raw.value is None else tuple(_trigger(t) for t in raw.sequence())
    )
    return Sequence(name=name, tasks=tasks, triggered_on=triggers), node


def _task(node: Node) -> Task:
    node.only(("name", "triggeredAfter", "properties"))
    name = node.require("name").string()
    after = 0.0
    raw = node.get("triggeredAfter")
    if raw is not None and raw.value is not None:
        try:
            after = parse_duration(raw.string())
        except ValueError as exc:
            raise raw.fail(str(exc)) from None
    props = node.get("properties")
    properties: Mapping[str, Any] = _EMPTY
    if props is not None and props.value is not None:
        props.mapping()
        properties = MappingProxyType(props.plain())
    return Task(name=name, triggered_after=after, properties=properties)


def _trigger(node: Node) -> Trigger:
    node.only(("event", "selector"))
    event_node = node.require("event")
    event = event_node.string()
    parts = event.split(".")
    if len(parts) != 3 or parts[2] != "finished" or not all(parts):
        raise event_node.fail("must be '<stage>.<sequence>.finished'")
    match: dict[str, str] = {}
    selector = node.get("selector")
    if selector is not None and selector.value is not None:
        selector.only(("match",))
        raw = selector.get("match")
        if raw is not None and raw.value is not None:
            match = {key: value.text() for key, value in raw.mapping().items()}
    return Trigger(event=event, match=MappingProxyType(match))


def _legacy(root: Node, wait: float) -> Shipyard:
    stages: list[tuple[Stage, Node]] = []
    for node in root.require("stages").sequence():
        name = node.require("name").string()
        strategy = node.get("remediation_strategy")
        sequences: tuple[Sequence, ...] = ()
        if strategy is not None and strategy.value is not None:
            if strategy.string() not in ("automated", "manual", "none"):
                raise strategy.fail("must be 'automated' (or 'manual'/'none' for no remediation)")
            if strategy.value == "automated":
                sequences = (_legacy_remediation(name, wait),)
        stages.append((Stage(name=name, sequences=sequences), node))
    if not stages:
        raise SpecError("must list at least one stage", field="stages", line=root.line)
    return Shipyard(name="", stages=tuple(_unique(stages, "stage")), api_version="0.6", legacy=True)


def _legacy_remediation(stage: str, wait: float) -> Sequence:
    return Sequence(
        name="remediation",
        tasks=(
            Task("get-action"),
            Task("action"),
            Task("evaluation", triggered_after=wait),
        ),
        triggered_on=(
            Trigger(
                event=f"{stage}.remediation.finished",
                match=MappingProxyType({"evaluation.result": "fail"}),
            ),
        ),
    )


__all__ = [
    "LEGACY_EVALUATION_WAIT",
    "Sequence",
    "Shipyard",
    "Stage",
    "Task",
    "Trigger",
    "load_shipyard",
    "parse_duration",
]
