"""The bridge's task chart: spans from a sequence's events, and their SVG."""

from __future__ import annotations

from selfheal.control.chart import sequence_svg, task_spans
from selfheal.core import CloudEvent, iso_from_epoch

T0 = 1_700_000_000.0


def _event(type_: str, at: float, *, id_: str, answers: str = "", **data: object) -> CloudEvent:
    ext = {"shkeptncontext": "ctx"}
    if answers:
        ext["triggeredid"] = answers
    return CloudEvent(
        type=f"sh.keptn.event.{type_}",
        source="tests",
        id=id_,
        time=iso_from_epoch(T0 + at),
        data=data,
        extensions=ext,
    )


EVENTS = [
    _event("production.remediation.triggered", 0.0, id_="s"),
    _event("get-action.triggered", 0.0, id_="g"),
    _event("get-action.started", 0.01, id_="g1", answers="g"),
    _event("get-action.finished", 0.02, id_="g2", answers="g", result="pass"),
    _event("action.triggered", 0.02, id_="a", action={"name": "Enable static content"}),
    _event("action.started", 0.5, id_="a1", answers="a"),
    _event("action.finished", 2.5, id_="a2", answers="a", result="pass"),
    _event("evaluation.triggered", 2.5, id_="e"),
    _event("evaluation.started", 2.6, id_="e1", answers="e"),
    _event("evaluation.finished", 4.0, id_="e2", answers="e", result="fail"),
    _event("action.triggered", 4.0, id_="b", action={"name": "Scale up"}),
    _event("action.finished", 4.5, id_="stray", answers="nobody", result="pass"),
]


def test_task_spans_match_answers_to_their_trigger() -> None:
    spans = task_spans(EVENTS)
    assert [s.label for s in spans] == [
        "get-action",
        "action: Enable static content",
        "evaluation",
        "action: Scale up",
    ]
    action = spans[1]
    assert (action.started, action.finished) == (T0 + 0.5, T0 + 2.5)
    assert [s.result for s in spans] == ["pass", "pass", "fail", ""]
    assert spans[3].finished is None  # the stray answer matched nothing


def test_the_chart_has_a_bar_per_task_coloured_by_result() -> None:
    svg = sequence_svg(task_spans(EVENTS), now=T0 + 5.0)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<g class="task"') == 4
    assert 'data-task="evaluation" data-result="fail"' in svg and "#c62828" in svg
    assert 'data-task="action" data-result="open"' in svg  # still running at `now`
    assert "2.5 s" in svg and "20 ms" in svg  # durations from each trigger
    assert "+5.0 s" in svg  # the axis ends at now
    assert sequence_svg([], now=T0) == ""


def test_labels_are_escaped() -> None:
    events = [_event("action.triggered", 0.0, id_="x", action={"name": "<script>"})]
    svg = sequence_svg(task_spans(events), now=T0 + 1)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
