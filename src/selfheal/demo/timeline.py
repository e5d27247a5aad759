"""The steps of the loop, in seconds from fault onset, as the runner observed them."""

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
"""The milestones every run reports, in the order the loop should reach them."""


@dataclass
class Timeline:
    """Epoch timestamps of the fault and of each milestone (first time it was seen)."""

    fault_at: float | None = None
    at: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def mark(self, step: str, when: float, note: str = "") -> bool:
        """Record a milestone once; True if it was new."""
        if step in self.at:
            return False
        self.at[step] = when
        if note:
            self.notes[step] = note
        return True

    def seconds(self, step: str) -> float | None:
        """Seconds from the fault to `step`, or None if not reached (or no fault yet)."""
        if self.fault_at is None or step not in self.at:
            return None
        return round(self.at[step] - self.fault_at, 3)

    def reached(self, step: str) -> bool:
        return step in self.at

    def rows(self) -> list[tuple[str, str, float | None, str]]:
        """(step, label, seconds from fault, note) in milestone order, then any extras."""
        known = [s for s, _ in STEPS]
        labels = dict(STEPS)
        extra = sorted((s for s in self.at if s not in known), key=lambda s: self.at[s])
        return [
            (
                step,
                labels.get(step, step.replace("_", " ")),
                self.seconds(step),
                self.notes.get(step, ""),
            )
            for step in [*known, *extra]
        ]

    def as_dict(self) -> dict[str, float | None]:
        return {step: self.seconds(step) for step, *_ in self.rows()}
