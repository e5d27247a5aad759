"""Problem badges for the console's lists: OPEN, MITIGATED (since when) or RESOLVED, and
the restore's state where there is one.

A problems list (the monitor's) does not know restores, and a sequence list (the control
plane's) does not know whether its problem is mitigated; the web layer sees both, so it
answers both through `Runtime.problem_badges` (as it does `flip_causes` for the flags
console). Two indexed queries per list: its problems by key (`get_problems`), their restores by
problem.
"""

from __future__ import annotations

from collections.abc import Collection

from selfheal.control.restore_store import FINAL, Restore
from selfheal.control.service import ControlService
from selfheal.monitor.service import MonitorService
from selfheal.runtime import ProblemBadge, RestoreView

RESTORES_LOOKED_AT = 500
"""Restores read for one page of problems (newest first; a problem has one per remediation)."""


def view(r: Restore) -> RestoreView:
    return RestoreView(r.id, r.state, r.fallback_percent, r.hold_until, r.due)


class Badges:
    """`ProblemBadges` from the monitor's problems and the control plane's restores."""

    def __init__(self, monitor: MonitorService, control: ControlService) -> None:
        self._monitor = monitor
        self._control = control

    async def restores_of(self, problem_ids: Collection[str]) -> dict[str, RestoreView]:
        machine = self._control.restores
        ids = {i for i in problem_ids if i}
        if machine is None or not ids:
            return {}
        found = await machine.store.list(problem_ids=ids, limit=RESTORES_LOOKED_AT)
        out: dict[str, Restore] = {}
        for r in found:  # newest first: the first active one wins, else the newest
            seen = out.get(r.problem_id)
            if seen is None or (seen.state in FINAL and r.state not in FINAL):
                out[r.problem_id] = r
        return {pid: view(r) for pid, r in out.items()}

    async def problems(self, keys: Collection[str]) -> dict[str, ProblemBadge]:
        found = await self._monitor.get_problems(keys)
        restores = await self.restores_of({p.pid for p in found.values()})
        return {
            key: ProblemBadge(
                p.id,
                p.display_id,
                p.status,
                p.mitigated_since if p.mitigated else None,
                restores.get(p.pid),
            )
            for key, p in found.items()
        }
