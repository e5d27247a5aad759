"""A server-rendered SVG chart of a service's failure rate with problem markers (no JS)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from selfheal.core import iso_from_epoch


@dataclass(frozen=True, slots=True)
class Marker:
    time: float
    label: str
    kind: str
    """open | action | flag | comment | resolve"""


_COLOURS = {
    "open": "#c62828",
    "comment": "#1565c0",
    "resolve": "#2e7d32",
    "action": "#6a1b9a",
    "flag": "#ef6c00",
}


def failure_rate_svg(
    points: list[tuple[float, float | None]],
    markers: list[Marker],
    *,
    start: float,
    end: float,
    width: int = 760,
    height: int = 220,
    threshold: float | None = None,
) -> str:
    """`points` are (time, failure rate in percent or None for no data); `threshold` (in
    percent) is drawn as a labelled line; the time axis has a tick every fifth."""
    pad_l, pad_r, pad_t, pad_b = 44, 12, 12, 28
    span = max(end - start, 1e-9)
    values = [v for _, v in points if v is not None]
    top = max([*values, threshold or 0.0, 1.0])
    top = min(100.0, top * 1.15)
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(t: float) -> float:
        return pad_l + (min(max(t, start), end) - start) / span * plot_w

    def y(v: float) -> float:
        return pad_t + plot_h - v / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="failure rate">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        level = top * frac
        parts.append(
            f'<text x="{pad_l - 4}" y="{y(level) + 4:.1f}" font-size="10" text-anchor="end">{level:.1f}%</text>'
        )
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line class="threshold" x1="{pad_l}" y1="{ty:.1f}" x2="{pad_l + plot_w}" '
            f'y2="{ty:.1f}" stroke="#c62828" stroke-width="1"/>'
            f'<text x="{pad_l + plot_w - 2}" y="{ty - 3:.1f}" font-size="10" text-anchor="end" '
            f'fill="#c62828">threshold {threshold:g}%</text>'
        )
    for i in range(1, 5):
        t = start + span * i / 5
        tx = x(t)
        parts.append(
            f'<line class="tick" x1="{tx:.1f}" y1="{pad_t + plot_h}" x2="{tx:.1f}" '
            f'y2="{pad_t + plot_h + 4}" stroke="#999"/>'
            f'<text x="{tx:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
            f"{iso_from_epoch(t)[11:19]}</text>"
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for t, v in points:
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(t):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline fill="none" stroke="#e65100" stroke-width="1.5" points="{" ".join(seg)}"/>'
        )
    for m in markers:
        colour = _COLOURS.get(m.kind, "#555")
        mx = x(m.time)
        parts.append(
            f'<line class="marker marker-{m.kind}" x1="{mx:.1f}" y1="{pad_t}" x2="{mx:.1f}" '
            f'y2="{pad_t + plot_h}" stroke="{colour}" stroke-dasharray="4 2">'
            f"<title>{escape(m.label)} · {iso_from_epoch(m.time)}</title></line>"
        )
    parts.append(
        f'<text x="{pad_l}" y="{height - 8}" font-size="10">{iso_from_epoch(start)[:10]}</text>'
        f'<text x="{width - pad_r}" y="{height - 8}" font-size="10" text-anchor="end">UTC</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
