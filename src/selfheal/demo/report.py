"""The demo's verdict: checks, the timeline, the traffic, written as JSON (and a plot)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfheal.demo.timeline import STEPS, Timeline
from selfheal.demo.traffic import Sample, bucketize, totals


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    timeline: Timeline
    samples: Sequence[Sample]
    checks: list[Check] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    problem: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    sequence: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def as_dict(self) -> dict[str, Any]:
        fault_at = self.timeline.fault_at
        origin = fault_at if fault_at is not None else self.started_at
        out: dict[str, Any] = {
            "ok": self.ok,
            "fault_at": fault_at,
            "fault_at_iso": _iso(fault_at),
        }
        out.update({step: self.timeline.seconds(step) for step, _ in STEPS})
        out.update(
            {
                "timeline": [
                    {"step": step, "label": label, "seconds": secs, "note": note}
                    for step, label, secs, note in self.timeline.rows()
                ],
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
                "error": self.error,
                "duration": round(self.finished_at - self.started_at, 3),
                "traffic": totals(list(self.samples)),
                "series": [b.as_dict(origin) for b in bucketize(self.samples, 1.0)],
                "problem": self.problem,
                "comments": self.comments,
                "sequence": self.sequence,
                "urls": self.urls,
                "settings": self.settings,
                "files": self.files,
            }
        )
        return out

    def write(self, directory: Path, *, plot: bool = True) -> Path:
        """report.json, and timeline.png beside it when `plot`; returns the JSON path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "report.json"
        self.files["report"] = str(path)
        if plot and self.samples:
            from selfheal.demo.plot import plot_timeline

            image = directory / "timeline.png"
            plot_timeline(self.samples, self.timeline, image)
            self.files["plot"] = str(image)
        path.write_text(json.dumps(self.as_dict(), indent=2))
        return path

    def json_line(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="milliseconds")
