"""A reader for the Prometheus text exposition format (version 0.0.4 and OpenMetrics text).

Only what the SLIs need: samples as (name, labels, value). A body that is not in the
format raises `ExpositionError`, which the scraper turns into the visible "no data" state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selfheal.monitor.errors import ExpositionError


@dataclass(frozen=True, slots=True)
class MetricSample:
    name: str
    labels: dict[str, str]
    value: float


def _parse_labels(text: str, pos: int, line_no: int) -> tuple[dict[str, str], int]:
    labels: dict[str, str] = {}
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " ,":
            pos += 1
        if pos < n and text[pos] == "}":
            return labels, pos + 1
        eq = text.find("=", pos)
        if eq < 0:
            raise ExpositionError(f"line {line_no}: label without '='")
        key = text[pos:eq].strip()
        if not key or not (key[0].isalpha() or key[0] == "_"):
            raise ExpositionError(f"line {line_no}: bad label name {key!r}")
        pos = eq + 1
        if pos >= n or text[pos] != '"':
            raise ExpositionError(f"line {line_no}: label value must be quoted")
        pos += 1
        chars: list[str] = []
        while pos < n and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < n:
                nxt = text[pos + 1]
                chars.append("\n" if nxt == "n" else nxt)
                pos += 2
                continue
            chars.append(text[pos])
            pos += 1
        if pos >= n:
            raise ExpositionError(f"line {line_no}: unterminated label value")
        labels[key] = "".join(chars)
        pos += 1
    raise ExpositionError(f"line {line_no}: unterminated label set")


def _parse_value(token: str, line_no: int) -> float:
    try:
        value = float(token)
    except ValueError as exc:
        raise ExpositionError(f"line {line_no}: {token!r} is not a number") from exc
    return value


def parse(text: str) -> list[MetricSample]:
    samples: list[MetricSample] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        space = line.find(" ")
        if brace >= 0 and (space < 0 or brace < space):
            name = line[:brace]
            labels, pos = _parse_labels(line, brace + 1, line_no)
            rest = line[pos:].split()
        else:
            parts = line.split()
            name, labels, rest = parts[0], {}, parts[1:]
        if (
            not name
            or not (name[0].isalpha() or name[0] in "_:")
            or not all(c.isalnum() or c in "_:" for c in name)
        ):
            raise ExpositionError(f"line {line_no}: bad metric name {name[:40]!r}")
        if not rest or len(rest) > 2:
            raise ExpositionError(f"line {line_no}: expected a value")
        value = _parse_value(rest[0], line_no)
        if math.isnan(value):
            continue
        samples.append(MetricSample(name, labels, value))
    return samples
