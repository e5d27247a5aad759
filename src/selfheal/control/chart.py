"""A server-rendered SVG chart of one sequence: a bar per task from its `.triggered` to its
`.finished` (the part before `.started` lighter), coloured by result, on a time axis (no JS)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from selfheal.core import CloudEvent, epoch_from_iso, parse_type

_RESULT_COLOURS = {"pass": "#2e7d32", "warning": "#ef6c00", "fail": "#c62828"}
_OPEN = "#1565c0"


@dataclass
class TaskSpan:
    """One task run of a sequence (a `.triggered` event and its answers)."""

    name: str
    label: str
    triggered: float
    started: float | None = None
    finished: float | None = None
    result: str = ""


def task_spans(events: list[CloudEvent]) -> list[TaskSpan]:
    """Task runs in the order they were triggered; answers are matched by `triggeredid`."""
    spans: dict[str, TaskSpan] = {}
    for event in events:
        parsed = parse_type(event.type)
        if parsed is None or parsed.stage is not None:
            continue  # the sequence's own events, not a task's
        try:
            when = epoch_from_iso(event.time)
        except ValueError:
            continue
        data = event.payload()
        if parsed.phase == "triggered":
            label = parsed.name
            action = data.get("action")
            if parsed.name == "action" and isinstance(action, dict) and action.get("name"):
                label = f"action: {action['name']}"
            spans[event.id] = TaskSpan(parsed.name, label, when)
            continue
        span = spans.get(event.triggeredid or "")
        if span is None:
            continue
        if parsed.phase == "started":
            span.started = when
        elif parsed.phase == "finished":
            span.finished = when
            status = str(data.get("status") or "succeeded")
            span.result = "fail" if status == "errored" else str(data.get("result") or "pass")
    return sorted(spans.values(), key=lambda s: s.triggered)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def sequence_svg(spans: list[TaskSpan], *, now: float, width: int = 760) -> str:
    """The chart, or "" when the sequence has no task yet. Open tasks run up to `now`."""
    if not spans:
        return ""
    row, pad_l, pad_r, pad_t, pad_b = 26, 190, 70, 10, 26
    height = pad_t + pad_b + row * len(spans)
    start = min(s.triggered for s in spans)
    end = max(max(s.finished or now, s.started or s.triggered) for s in spans)
    span = max(end - start, 1e-3)
    plot_w = width - pad_l - pad_r

    def x(t: float) -> float:
        return pad_l + (min(max(t, start), end) - start) / span * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart sequence-chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="task timeline">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{plot_w}" height="{row * len(spans)}" '
        f'fill="#fafafa" stroke="#ccc"/>',
    ]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = pad_l + frac * plot_w
        parts.append(
            f'<line x1="{tx:.1f}" y1="{pad_t}" x2="{tx:.1f}" y2="{pad_t + row * len(spans)}" '
            f'stroke="#e0e0e0"/><text x="{tx:.1f}" y="{height - 8}" font-size="10" '
            f'text-anchor="middle">+{_duration(frac * span)}</text>'
        )
    for i, s in enumerate(spans):
        top = pad_t + i * row + 5
        colour = _RESULT_COLOURS.get(s.result, _OPEN) if s.finished is not None else _OPEN
        until = s.finished if s.finished is not None else now
        begun = s.started if s.started is not None else until
        wait_w = max(x(begun) - x(s.triggered), 0.0)
        run_w = max(x(until) - x(begun), 1.5)
        state = s.result or ("open" if s.finished is None else "")
        title = escape(f"{s.label}: {state}, {_duration(until - s.triggered)}")
        parts.append(
            f'<g class="task" data-task="{escape(s.name)}" data-result="{escape(state)}">'
            f"<title>{title}</title>"
            f'<text x="{pad_l - 6}" y="{top + 12}" font-size="11" text-anchor="end">'
            f"{escape(s.label if len(s.label) <= 30 else s.label[:29] + '…')}</text>"
            f'<rect x="{x(s.triggered):.1f}" y="{top}" width="{wait_w:.1f}" height="16" '
            f'fill="{colour}" opacity="0.3"/>'
            f'<rect x="{x(begun):.1f}" y="{top}" width="{run_w:.1f}" height="16" '
            f'fill="{colour}"/>'
            f'<text x="{x(until) + 4:.1f}" y="{top + 12}" font-size="10">'
            f"{escape(_duration(until - s.triggered))}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
