"""The demo's verdict: checks, the timeline, the traffic, written as JSON (and a plot).

A run is `valid` when its numbers measure what they claim (`invalid` lists why not, from
`milestones.measurement_problems`); `ok` needs the loop closed, every check passed and a
valid run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfheal.demo.milestones import measurement_problems
from selfheal.demo.timeline import Timeline
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
    invalid: list[str] = field(default_factory=list)
    """Why the numbers of this run cannot be trusted (empty: they can)."""
    restoring: bool = False
    """The platform restored by itself (mitigated problem, restore events)."""
    restore_traffic: dict[str, Any] | None = None
    """Requests and the errors users got from restore start to flag off (None: no restore)."""
    kept_fault: dict[str, Any] | None = None
    """With the fault kept and watched (`DemoOptions.kept_fault_seconds`): restore attempts,
    breaches, completed restores, requests and errors in the window (`demo.attempts`)."""

    @property
    def valid(self) -> bool:
        return not self.invalid

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.valid
            and bool(self.checks)
            and all(c.ok for c in self.checks)
        )

    def time_to_restore(self) -> float | None:
        """Fault cleared → flag off, seconds (None unless both happened)."""
        cleared, off = self.timeline.at.get("fault_cleared"), self.timeline.at.get("flag_off")
        return round(off - cleared, 3) if cleared is not None and off is not None else None

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def assess(
        self, *, rate: float, load_stopped_at: float | None, load_ended_by: str | None
    ) -> None:
        """Add to `invalid` every reason the samples and the timeline cannot be trusted."""
        for reason in measurement_problems(
            self.timeline,
            self.samples,
            rate=rate,
            load_stopped_at=load_stopped_at,
            load_ended_by=load_ended_by,
        ):
            if reason not in self.invalid:
                self.invalid.append(reason)

    def as_dict(self) -> dict[str, Any]:
        fault_at = self.timeline.fault_at
        origin = fault_at if fault_at is not None else self.started_at
        out: dict[str, Any] = {
            "ok": self.ok,
            "valid": self.valid,
            "invalid": list(self.invalid),
            "fault_at": fault_at,
            "fault_at_iso": _iso(fault_at),
        }
        out.update(self.timeline.as_dict())
        out.update(
            {
                "causal": not self.timeline.violations(),
                "restoring": self.restoring,
                "time_to_mitigate": self.timeline.seconds("first_cdn_response"),
                "time_to_restore": self.time_to_restore(),
                "restore_traffic": self.restore_traffic,
                "kept_fault": self.kept_fault,
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
