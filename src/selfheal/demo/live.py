"""What the runner shows while the loop runs: one rich table redrawn a few times a second."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample


@dataclass
class LiveState:
    """Updated by the runner; `window` seconds of samples feed the rates."""

    timeline: Timeline
    phase: str = "starting"
    problem: str = "none"
    flag: str = "off"
    sequence: str = "-"
    steps: list[str] = field(default_factory=list)
    window: float = 2.0
    recent: deque[Sample] = field(default_factory=lambda: deque(maxlen=5000))
    total: int = 0

    def add(self, sample: Sample) -> None:
        self.recent.append(sample)
        self.total += 1

    def rates(self, now: float | None = None) -> tuple[float, float, float]:
        """(requests/s, error share, CDN share) over the last `window` seconds."""
        now = time.time() if now is None else now
        lately = [s for s in self.recent if s.done_at >= now - self.window]
        if not lately:
            return 0.0, 0.0, 0.0
        errors = sum(1 for s in lately if not s.ok)
        cdn = sum(1 for s in lately if s.served_by == "cdn")
        return len(lately) / self.window, errors / len(lately), cdn / len(lately)


def render(state: LiveState) -> RenderableType:
    rps, err, cdn = state.rates()
    status = Table.grid(padding=(0, 2))
    status.add_column(style="bold")
    status.add_column()
    fault_at = state.timeline.fault_at
    since = f"{time.time() - fault_at:5.1f}s since fault" if fault_at else "no fault yet"
    status.add_row("phase", f"{state.phase}  ({since})")
    status.add_row("traffic", f"{rps:5.1f} req/s, {state.total} sent")
    err_style = "bold red" if err > 0.05 else "green"
    status.add_row("errors", Text(f"{err * 100:5.1f} %", style=err_style))
    served = Text()
    served.append(f"app {100 - cdn * 100:5.1f} %", style="blue")
    served.append("   ")
    served.append(f"cdn {cdn * 100:5.1f} %", style="green")
    status.add_row("served by", served)
    problem_style = "bold red" if state.problem.startswith("OPEN") else ""
    status.add_row("problem", Text(state.problem, style=problem_style))
    status.add_row("flag", Text(state.flag, style="green" if state.flag == "on" else ""))
    status.add_row("sequence", state.sequence)
    steps = Table(show_header=True, header_style="bold", box=None)
    steps.add_column("step")
    steps.add_column("after fault", justify="right")
    for _, label, secs, _note in state.timeline.rows():
        steps.add_row(label, "…" if secs is None else f"{secs:6.2f} s")
    tail = Text("\n".join(state.steps[-6:]), style="dim")
    return Group(status, Text(""), steps, tail)


def timeline_table(timeline: Timeline) -> Table:
    table = Table(title="Timeline (seconds from fault onset)", header_style="bold")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("note", style="dim")
    for _, label, secs, note in timeline.rows():
        table.add_row(label, "not reached" if secs is None else f"{secs:.2f}", note)
    return table
