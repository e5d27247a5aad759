"""Restores in the database: one row per remediation that masked a problem with a kill
switch, with an owner, a lease and a due time (the restore's timer), changed only by
compare-and-set on `version` — so a crashed replica's restore is taken over where it stood
and two replicas never drive one restore."""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from selfheal.control.leases import Lease
from selfheal.control.sequences import metadata
from selfheal.control.specs import RestorePolicy
from selfheal.control.steps import Steps

restores_table = sa.Table(
    "control_restores",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("stage", sa.String(255), nullable=False),
    sa.Column("service", sa.String(255), nullable=False),
    sa.Column("problem_id", sa.String(512), nullable=False),
    sa.Column("flag", sa.String(255), nullable=False),
    sa.Column("environment", sa.String(255), nullable=False),
    sa.Column("flag_project", sa.String(255), nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("probes_ok", sa.Integer, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Text, nullable=False),
    sa.Column("step_since", sa.Float),
    sa.Column("hold_until", sa.Float),
    sa.Column("held_by", sa.String(255)),
    sa.Column("flip_event", sa.String(255)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(32)),
    sa.Column("due", sa.Float),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_control_restores_due", "state", "due"),
    sa.Index("ix_control_restores_flag", "flag", "environment", "state"),
    sa.Index("ix_control_restores_problem", "problem_id"),
)

ARMED = "armed"
"""The kill switch is on; waiting for the monitor to report the problem mitigated."""
VERIFYING = "verifying"
APPROVAL = "approval"
STEPPING = "stepping"
BACKOFF = "backoff"
HELD = "held"
"""A person flipped the flag: automation waits until `hold_until`."""
KEPT = "kept"
"""A person chose to keep the fallback: no restore until resumed."""
RESTORED = "restored"
CLOSED = "closed"
FINAL = (RESTORED, CLOSED)


@dataclass(frozen=True, slots=True)
class Restore:
    id: str
    """The keptnContext of the remediation that switched the flag on."""
    project: str
    stage: str
    service: str
    problem_id: str
    flag: str
    environment: str
    flag_project: str
    policy: RestorePolicy
    state: str = ARMED
    step: int = -1
    probes_ok: int = 0
    failures: int = 0
    """Breaches since the last successful restore attempt began (drives the backoff)."""
    attempts: tuple[float, ...] = ()
    """When the attempts of the last hour began (the cap per hour)."""
    step_since: float | None = None
    hold_until: float | None = None
    held_by: str | None = None
    flip_event: str | None = None
    message: str = ""
    outcome: str | None = None
    due: float | None = None
    owner: str | None = None
    lease_until: float | None = None
    created: float = 0.0
    updated: float = 0.0
    version: int = 0

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def fallback_percent(self) -> int | None:
        """The share of users the kill switch should hold in this state (None: not ours
        to say — a person's hold, or finished)."""
        if self.state == STEPPING and 0 <= self.step < len(self.policy.steps):
            return int(self.policy.steps[self.step])
        if self.state in (ARMED, VERIFYING, APPROVAL, BACKOFF, KEPT):
            return 100
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "stage": self.stage,
            "service": self.service,
            "problemId": self.problem_id,
            "flag": self.flag,
            "environment": self.environment,
            "state": self.state,
            "step": self.step,
            "fallbackPercent": self.fallback_percent,
            "steps": list(self.policy.steps),
            "probesOk": self.probes_ok,
            "failures": self.failures,
            "attemptsLastHour": len(self.attempts),
            "holdUntil": self.hold_until,
            "heldBy": self.held_by,
            "message": self.message,
            "outcome": self.outcome,
            "due": self.due,
            "owner": self.owner,
            "created": self.created,
            "updated": self.updated,
        }


def _row(r: Restore) -> dict[str, Any]:
    return {
        "id": r.id,
        "project": r.project,
        "stage": r.stage,
        "service": r.service,
        "problem_id": r.problem_id,
        "flag": r.flag,
        "environment": r.environment,
        "flag_project": r.flag_project,
        "policy": json.dumps(r.policy.to_dict()),
        "state": r.state,
        "step": r.step,
        "probes_ok": r.probes_ok,
        "failures": r.failures,
        "attempts": json.dumps(list(r.attempts)),
        "step_since": r.step_since,
        "hold_until": r.hold_until,
        "held_by": r.held_by,
        "flip_event": r.flip_event,
        "message": r.message,
        "outcome": r.outcome,
        "due": r.due,
        "owner": r.owner,
        "lease_until": r.lease_until,
        "created": r.created,
        "updated": r.updated,
        "version": r.version,
    }


def _restore(row: Any) -> Restore:
    m = row._mapping
    return Restore(
        id=m["id"],
        project=m["project"],
        stage=m["stage"],
        service=m["service"],
        problem_id=m["problem_id"],
        flag=m["flag"],
        environment=m["environment"],
        flag_project=m["flag_project"],
        policy=RestorePolicy.from_dict(json.loads(m["policy"])),
        state=m["state"],
        step=int(m["step"]),
        probes_ok=int(m["probes_ok"]),
        failures=int(m["failures"]),
        attempts=tuple(float(t) for t in json.loads(m["attempts"])),
        step_since=m["step_since"],
        hold_until=m["hold_until"],
        held_by=m["held_by"],
        flip_event=m["flip_event"],
        message=m["message"],
        outcome=m["outcome"],
        due=m["due"],
        owner=m["owner"],
        lease_until=m["lease_until"],
        created=float(m["created"]),
        updated=float(m["updated"]),
        version=int(m["version"]),
    )


class RestoreStore:
    """Joins the active engine step (see `steps.py`) or runs its own short transaction."""

    def __init__(self, steps: Steps, lease: Lease) -> None:
        self._steps = steps
        self.lease = lease

    def _use(self, *, write: bool) -> AbstractAsyncContextManager[Any]:
        return self._steps.connection(write=write)

    async def insert(self, restore: Restore) -> bool:
        """A new restore; False if one with this id exists (a repeat is not a second)."""
        t = restores_table
        async with self._use(write=True) as conn:
            found = (await conn.execute(sa.select(t.c.id).where(t.c.id == restore.id))).first()
            if found is not None:
                return False
            await conn.execute(t.insert().values(_row(restore)))
        return True

    async def get(self, restore_id: str) -> Restore | None:
        t = restores_table
        async with self._use(write=False) as conn:
            row = (await conn.execute(sa.select(t).where(t.c.id == restore_id))).first()
        return _restore(row) if row is not None else None

    async def save(self, restore: Restore, **changes: Any) -> Restore | None:
        """Compare-and-set on `version`, taking (or keeping) the lease: the new state, or
        None when someone else changed the restore first."""
        new = replace(
            restore,
            **changes,
            version=restore.version + 1,
            owner=self.lease.owner,
            lease_until=self.lease.until(),
        )
        t = restores_table
        async with self._use(write=True) as conn:
            result = await conn.execute(
                sa.update(t)
                .where(t.c.id == restore.id, t.c.version == restore.version)
                .values(_row(new))
            )
        return new if result.rowcount else None

    async def list(
        self,
        *,
        active: bool | None = None,
        problem_id: str | None = None,
        service: str | None = None,
        problem_ids: Collection[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Restore]:
        """Newest first; `problem_ids`: the restores of any of these problems (the console's
        lists ask for a page of problems at once)."""
        t = restores_table
        query = sa.select(t).order_by(t.c.created.desc()).limit(limit)
        if active is True:
            query = query.where(t.c.state.not_in(FINAL))
        elif active is False:
            query = query.where(t.c.state.in_(FINAL))
        if problem_id is not None:
            query = query.where(t.c.problem_id == problem_id)
        if service is not None:
            query = query.where(t.c.service == service)
        if problem_ids is not None:
            query = query.where(t.c.problem_id.in_(sorted(set(problem_ids))))
        async with self._use(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_restore(r) for r in rows]

    async def for_flag(self, flag: str, environment: str) -> builtins.list[Restore]:
        """The active restores that own this kill switch."""
        t = restores_table
        query = sa.select(t).where(
            t.c.flag == flag, t.c.environment == environment, t.c.state.not_in(FINAL)
        )
        async with self._use(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_restore(r) for r in rows]

    async def due(self, *, limit: int = 50) -> builtins.list[Restore]:
        """Active restores whose timer is due and that this replica may drive: its own, or
        ones whose owner's lease expired (that replica died or let go)."""
        t = restores_table
        now = self.lease.clock.now()
        mine_or_orphaned = sa.or_(
            t.c.owner == self.lease.owner, t.c.lease_until.is_(None), t.c.lease_until < now
        )
        query = (
            sa.select(t)
            .where(t.c.state.not_in(FINAL), t.c.due <= now, mine_or_orphaned)
            .order_by(t.c.due)
            .limit(limit)
        )
        async with self._use(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_restore(r) for r in rows]

    async def heartbeat(self) -> int:
        """Renew this replica's leases on active restores."""
        t = restores_table
        async with self._use(write=True) as conn:
            result = await conn.execute(
                sa.update(t)
                .where(t.c.owner == self.lease.owner, t.c.state.not_in(FINAL))
                .values(lease_until=self.lease.until())
            )
        return int(result.rowcount or 0)

    async def release_leases(self) -> None:
        t = restores_table
        async with self._use(write=True) as conn:
            await conn.execute(
                sa.update(t)
                .where(t.c.owner == self.lease.owner, t.c.state.not_in(FINAL))
                .values(lease_until=None)
            )


__all__ = [
    "APPROVAL",
    "ARMED",
    "BACKOFF",
    "CLOSED",
    "FINAL",
    "HELD",
    "KEPT",
    "RESTORED",
    "STEPPING",
    "VERIFYING",
    "Restore",
    "RestoreStore",
    "restores_table",
]
