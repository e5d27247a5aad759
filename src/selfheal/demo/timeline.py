"""The steps of the loop, in seconds from fault onset, each at the time a server recorded it.

Every milestone is a timestamp some server wrote down when the thing happened (the problem's
`startTime`, an event's `time` in the event store, the flag's change event, the website's
`X-Served-At`), never the time the runner happened to look. So the order is the order in
which things really happened, and `violations()` names any pair that is not — a sign that
the run measured something else than it thinks (see `selfheal.demo.milestones`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

STEPS: tuple[tuple[str, str], ...] = (
    ("problem_opened", "monitor opened the problem"),
    ("action_triggered", "control plane triggered the action"),
    ("flag_on", "flag EnableStaticContent is on"),
    ("first_cdn_response", "first response served by the CDN"),
    ("problem_resolved", "monitor resolved the problem"),
    ("sequence_finished", "remediation sequence finished"),
)
"""The milestones every run reports (shown as "not reached" when missing)."""

RESTORE_STEPS: tuple[tuple[str, str], ...] = (
    ("problem_mitigated", "problem mitigated (served by the fallback)"),
    ("fault_cleared", "fault cleared"),
    ("origin_verified", "origin verified by probes"),
    ("restore_started", "restore started"),
    ("flag_off", "flag EnableStaticContent is off"),
)
"""The second half of the loop (issue 13): reported as null until they happen, shown only
once reached."""

ALL_STEPS: tuple[tuple[str, str], ...] = STEPS + RESTORE_STEPS

FAULT = "fault"

CAUSAL: tuple[tuple[str, str], ...] = (
    (FAULT, "problem_opened"),
    ("problem_opened", "action_triggered"),
    ("action_triggered", "flag_on"),
    ("flag_on", "first_cdn_response"),
    ("problem_opened", "problem_resolved"),
    ("action_triggered", "sequence_finished"),
    ("problem_opened", "problem_mitigated"),
    (FAULT, "fault_cleared"),
    ("flag_on", "restore_started"),
    ("flag_on", "flag_off"),
    ("restore_started", "flag_off"),
)
"""(earlier, later): each pair where the later step is caused by the earlier one, so it
cannot come first. `fault` is the fault onset."""


@dataclass
class Timeline:
    """Epoch timestamps of the fault and of each milestone, as the servers recorded them."""

    fault_at: float | None = None
    at: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def mark(self, step: str, when: float, note: str = "") -> bool:
        """Record a milestone once; True if it was new."""
        if step in self.at:
            return False
        self.set(step, when, note)
        return True

    def set(self, step: str, when: float, note: str = "") -> bool:
        """Record (or correct) a milestone; True if it was not reached before."""
        new = step not in self.at
        self.at[step] = when
        if note:
            self.notes[step] = note
        else:
            self.notes.pop(step, None)
        return new

    def seconds(self, step: str) -> float | None:
        """Seconds from the fault to `step`, or None if not reached (or no fault yet)."""
        if self.fault_at is None or step not in self.at:
            return None
        return round(self.at[step] - self.fault_at, 3)

    def reached(self, step: str) -> bool:
        return step in self.at

    def _when(self, step: str) -> float | None:
        return self.fault_at if step == FAULT else self.at.get(step)

    def violations(self) -> list[str]:
        """Every causal pair whose later step happened first, in words (empty: causal)."""
        out = []
        for earlier, later in CAUSAL:
            a, b = self._when(earlier), self._when(later)
            if a is None or b is None:
                continue
            # Strictly after the fault; a step and its direct effect may share a timestamp.
            if b < a or (earlier == FAULT and b == a):
                gap = round(a - b, 3)
                out.append(f"{later} came {gap} s before {earlier}")
        return out

    def rows(self) -> list[tuple[str, str, float | None, str]]:
        """(step, label, seconds from fault, note): reached steps in time order, then the
        main steps not reached yet; restore steps appear once reached."""
        labels = dict(ALL_STEPS)
        reached = sorted(self.at, key=lambda s: (self.at[s], _rank(s)))
        missing = [s for s, _ in STEPS if s not in self.at]
        return [
            (
                step,
                labels.get(step, step.replace("_", " ")),
                self.seconds(step),
                self.notes.get(step, ""),
            )
            for step in [*reached, *missing]
        ]

    def as_dict(self) -> dict[str, float | None]:
        """Every known step (null when not reached) and any extra one reached."""
        out: dict[str, float | None] = {step: self.seconds(step) for step, _ in ALL_STEPS}
        out.update({step: self.seconds(step) for step in self.at})
        return out


def _rank(step: str) -> int:
    names = [s for s, _ in ALL_STEPS]
    return names.index(step) if step in names else len(names)
