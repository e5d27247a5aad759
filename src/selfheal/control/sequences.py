"""Sequence state, problem occurrences, scope locks and the action ledger, in the database.

The database is the referee between replicas: a unique key on (problem, occurrence) means one
sequence per occurrence, the scope lock row means one running sequence per project/stage/
service, the ledger key (context, action index) means one execution per action, and every
state change is a compare-and-set on `version`.
"""

from __future__ import annotations

import builtins
import json
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from selfheal.control import steps
from selfheal.control.leases import Lease
from selfheal.control.steps import Prepared, Steps, run
from selfheal.core import SystemClock
from selfheal.storage import Database

metadata = sa.MetaData()
sequences_table = sa.Table(
    "control_sequences",
    metadata,
    sa.Column("context", sa.String(255), primary_key=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("stage", sa.String(255), nullable=False),
    sa.Column("service", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(32)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("task_index", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(32), nullable=False),
    sa.Column("iteration", sa.Integer, nullable=False),
    sa.Column("triggered_id", sa.String(255)),
    sa.Column("deadline", sa.Float),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
    # the problem the sequence was started for (from `data`), so a problem finds its
    # sequences by index (migration control_0003)
    sa.Column("problem_pid", sa.String(512)),
    sa.Column("problem_display", sa.String(512)),
)
locks_table = sa.Table(
    "control_scope_locks",
    metadata,
    sa.Column("scope", sa.String(800), primary_key=True),
    sa.Column("context", sa.String(255), nullable=False),
)
problems_table = sa.Table(
    "control_problems",
    metadata,
    sa.Column("problem_id", sa.String(512), primary_key=True),
    sa.Column("occurrence", sa.Integer, primary_key=True),
    sa.Column("context", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("opened", sa.Float, nullable=False),
    sa.Column("resolved", sa.Float),
    sa.Column("event_id", sa.String(512)),
    sa.Column("number", sa.Integer),
)
actions_table = sa.Table(
    "control_actions",
    metadata,
    sa.Column("context", sa.String(255), primary_key=True),
    sa.Column("action_index", sa.Integer, primary_key=True),
    sa.Column("scope", sa.String(800), nullable=False),
    sa.Column("action", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16)),
    sa.Column("result", sa.String(16)),
    sa.Column("message", sa.Text),
    sa.Column("data", sa.Text),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("finished", sa.Float),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
)

OPEN_STATES = ("waiting", "started")
ORPHANED_ACTION = (
    "the replica running this action stopped before it answered; the action may or may not"
    " have run and is not run again"
)
"""The ledger message of a claim closed because its runner died (status `unknown`)."""


@dataclass(frozen=True, slots=True)
class Sequence:
    """One run of a shipyard sequence under one keptnContext.

    `state`: waiting (queued behind another sequence of its scope) | started | finished.
    `phase` of the current task: idle | delayed (triggeredAfter) | triggered | started |
    approval (waiting for a human). `data` is the merged payload of all finished events.
    """

    context: str
    project: str
    stage: str
    service: str
    name: str
    state: str = "waiting"
    outcome: str | None = None
    message: str = ""
    revision: int = 0
    task_index: int = -1
    phase: str = "idle"
    iteration: int = 0
    triggered_id: str | None = None
    deadline: float | None = None
    paused: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0
    version: int = 0
    owner: str | None = None
    """The replica that holds the sequence (see `leases.py`); renewed by every write."""
    lease_until: float | None = None

    @property
    def scope(self) -> str:
        return scope_key(self.project, self.stage, self.service)


@dataclass(frozen=True, slots=True)
class Occurrence:
    problem_id: str
    occurrence: int
    context: str
    state: str
    source: str
    opened: float
    resolved: float | None
    event_id: str | None = None
    """`source id` of the notification that opened this occurrence."""
    number: int | None = None
    """The occurrence number the notifier gave (the monitor's `occurrence`), if any."""


@dataclass(frozen=True, slots=True)
class ActionRecord:
    context: str
    action_index: int
    action: str
    status: str | None
    result: str | None
    message: str | None
    data: dict[str, Any]
    started: float
    finished: float | None
    owner: str | None = None
    lease_until: float | None = None


def scope_key(project: str, stage: str, service: str) -> str:
    return f"{project}/{stage}/{service}"


def problem_ids(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(PID, display id) of the problem a sequence's payload names (its `problem` block,
    Keptn's ProblemEventData), if any."""
    raw = data.get("problem")
    block: dict[str, Any] = raw if isinstance(raw, dict) else {}
    pid = block.get("PID") or block.get("pid")
    display = block.get("ProblemID") or block.get("problemId")
    return (str(pid)[:512] if pid else None), (str(display)[:512] if display else None)


_DERIVED = ("data", "problem_pid", "problem_display")


def _from_row(row: Any) -> Sequence:
    values = {k: v for k, v in row._mapping.items() if k not in _DERIVED[1:]}
    values["data"] = json.loads(values["data"])
    values["paused"] = bool(values["paused"])
    return Sequence(**values)


_COLUMNS = tuple(c.name for c in sequences_table.c if c.name not in _DERIVED)


def _to_row(seq: Sequence) -> dict[str, Any]:
    row = {name: getattr(seq, name) for name in _COLUMNS}
    row["data"] = json.dumps(seq.data)
    row["problem_pid"], row["problem_display"] = problem_ids(seq.data)
    return row


def _values(table: sa.Table) -> dict[str, Any]:
    return {c.name: sa.bindparam(c.name) for c in table.c}


def _select_where(table: sa.Table, *names: str) -> Any:
    return sa.select(table).where(*(table.c[n] == sa.bindparam(f"w_{n}") for n in names))


def _remember(seq: Sequence) -> None:
    step = steps.current()
    if step is not None:
        step.seqs[seq.context] = seq


class SequenceStore:
    """Joins the active engine step (see `steps.py`) or runs its own short transaction."""

    def __init__(
        self, database: Database, steps: Steps | None = None, lease: Lease | None = None
    ) -> None:
        self._db = database
        self._steps = steps
        self.lease = lease or Lease("local", 10.0, SystemClock())
        self._postgres = database.dialect == "postgresql"
        dialect = postgresql if database.dialect == "postgresql" else sqlite
        self._insert_new: Any = dialect.insert
        # the hot statements, built once (see `steps.Prepared`)
        self._inserts = {
            table.name: Prepared(
                dialect.insert(table)
                .values(_values(table))
                .on_conflict_do_nothing()
                .returning(*table.primary_key.columns)
            )
            for table in (sequences_table, locks_table, problems_table, actions_table)
        }
        t, a = sequences_table, actions_table
        self._get = Prepared(_select_where(t, "context"))
        self._save = Prepared(
            sa.update(t)
            .where(
                t.c.context == sa.bindparam("w_context"), t.c.version == sa.bindparam("w_version")
            )
            .values(_values(t))
        )
        self._next_waiting = Prepared(
            _select_where(t, "project", "stage", "service", "state")
            .order_by(t.c.created, t.c.context)
            .limit(1)
        )
        self._holder = Prepared(
            sa.select(locks_table.c.context).where(locks_table.c.scope == sa.bindparam("w_scope"))
        )
        self._release = Prepared(
            locks_table.delete().where(
                locks_table.c.scope == sa.bindparam("w_scope"),
                locks_table.c.context == sa.bindparam("w_context"),
            )
        )
        p = problems_table
        self._latest = Prepared(
            _select_where(p, "problem_id").order_by(p.c.occurrence.desc()).limit(1)
        )
        self._occurrence_for = Prepared(_select_where(p, "context").limit(1))
        opened_by = (
            sa.select(p.c.occurrence)
            .where(
                p.c.problem_id == sa.bindparam("w_problem_id"),
                p.c.event_id == sa.bindparam("w_event_id"),
            )
            .exists()
        )
        self._latest_seen = Prepared(  # the latest occurrence, and whether an event opened one
            sa.select(p, opened_by.label("seen"))
            .where(p.c.problem_id == sa.bindparam("w_problem_id"))
            .order_by(p.c.occurrence.desc())
            .limit(1)
        )
        self._context_used = Prepared(
            sa.select(sa.literal(1).label("used")).where(
                sa.or_(
                    sa.select(t.c.context).where(t.c.context == sa.bindparam("w_context")).exists(),
                    sa.select(p.c.context).where(p.c.context == sa.bindparam("w_context")).exists(),
                )
            )
        )
        self._get_action = Prepared(_select_where(a, "context", "action_index"))
        self._finish_action = Prepared(
            sa.update(a)
            .where(
                a.c.context == sa.bindparam("w_context"),
                a.c.action_index == sa.bindparam("w_action_index"),
            )
            .values(
                status=sa.bindparam("status"),
                result=sa.bindparam("result"),
                message=sa.bindparam("message"),
                data=sa.bindparam("data"),
                finished=sa.bindparam("finished"),
            )
        )
        mine = sa.and_(
            a.c.scope == sa.bindparam("w_scope"), a.c.action != sa.bindparam("w_exclude")
        )
        recent = sa.case((a.c.started >= sa.bindparam("w_since"), 1), else_=0)
        self._actions_since = Prepared(  # one statement: the count and the latest start
            sa.select(
                sa.func.coalesce(sa.func.sum(recent), 0).label("recent"),
                sa.func.max(a.c.started).label("last"),
            ).where(mine)
        )

    def _use(self, *, write: bool) -> AbstractAsyncContextManager[Any]:
        if self._steps is not None:
            return self._steps.connection(write=write)
        return self._db.engine.begin() if write else self._db.engine.connect()

    async def _insert_once(self, table: sa.Table, values: dict[str, Any]) -> bool:
        """INSERT … ON CONFLICT DO NOTHING: True if the row is new. No IntegrityError, so a
        lost race does not abort the surrounding step's transaction on PostgreSQL."""
        params = {c.name: values.get(c.name) for c in table.c}
        async with self._use(write=True) as conn:
            return (await run(conn, self._inserts[table.name], params)).first() is not None

    # sequences -----------------------------------------------------------------------
    async def insert(self, seq: Sequence) -> bool:
        seq = replace(seq, owner=self.lease.owner, lease_until=self.lease.until())
        if not await self._insert_once(sequences_table, _to_row(seq)):
            return False
        _remember(seq)
        return True

    async def get(self, context: str) -> Sequence | None:
        step = steps.current()
        if step is not None and context in step.seqs:
            return step.seqs[context]  # type: ignore[no-any-return]
        async with self._use(write=False) as conn:
            row = (await run(conn, self._get, {"w_context": context})).first()
        return _from_row(row) if row is not None else None

    async def save(self, seq: Sequence, **changes: Any) -> Sequence | None:
        """Compare-and-set: the new state, or None if someone else changed it first.

        Inside an engine step the row is written once, before the step commits, with the
        latest state and a compare-and-set on the version the step found; a lost
        compare-and-set (here against the step's own newer state, or at that write against
        the database) raises `StaleState` and rolls the whole step back."""
        lease = self.lease
        new = replace(
            seq, **changes, version=seq.version + 1, owner=lease.owner, lease_until=lease.until()
        )
        step = steps.current()
        if step is not None:
            pending = step.pending.get(seq.context)
            if pending is None:
                if self._flush not in step.before_commit:
                    step.before_commit.append(self._flush)
                step.pending[seq.context] = (seq.version, new)
            elif pending[1].version != seq.version:
                raise steps.StaleState(f"sequence {seq.context} changed (version {seq.version})")
            else:
                step.pending[seq.context] = (pending[0], new)
            step.seqs[seq.context] = new
            return new
        params = _to_row(new)
        params.update(w_context=seq.context, w_version=seq.version)
        async with self._use(write=True) as conn:
            result = await run(conn, self._save, params)
        return new if result.rowcount else None

    async def _flush(self, step: steps.Step) -> None:
        """Write the step's changed sequence rows (see `save`)."""
        while step.pending:
            context, (version, new) = step.pending.popitem()
            params = _to_row(new)
            params.update(w_context=context, w_version=version)
            if not (await run(step.conn, self._save, params)).rowcount:
                raise steps.StaleState(f"sequence {context} changed (version {version})")

    async def _flushed(self) -> None:
        """Before a query that reads sequence rows from the database inside a step."""
        step = steps.current()
        if step is not None and step.pending:
            await self._flush(step)

    async def list(
        self,
        *,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
        state: str | None = None,
        states: tuple[str, ...] | None = None,
        problems: tuple[str, ...] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Sequence], int]:
        """Newest first; `problems` keeps the sequences started for a problem with one of
        these ids (PID or display id; an indexed lookup, however many sequences there are)."""
        t = sequences_table
        conds: list[Any] = []
        if problems is not None:
            ids = [p for p in problems if p]
            conds.append(sa.or_(t.c.problem_pid.in_(ids), t.c.problem_display.in_(ids)))
        for name, value in (("project", project), ("stage", stage), ("service", service)):
            if value:
                conds.append(t.c[name] == value)
        if state:
            conds.append(t.c.state == state)
        if states:
            conds.append(t.c.state.in_(states))
        where = sa.and_(sa.true(), *conds)
        stmt = sa.select(t).where(where).order_by(t.c.created.desc(), t.c.context)
        await self._flushed()
        async with self._use(write=False) as conn:
            rows = (await conn.execute(stmt.offset(offset).limit(limit))).all()
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(t).where(where))
            ).scalar_one()
        return [_from_row(r) for r in rows], int(total)

    async def next_waiting(self, scope: tuple[str, str, str]) -> Sequence | None:
        project, stage, service = scope
        params = {"w_project": project, "w_stage": stage, "w_service": service}
        await self._flushed()
        async with self._use(write=False) as conn:
            row = (await run(conn, self._next_waiting, {**params, "w_state": "waiting"})).first()
        return _from_row(row) if row is not None else None

    # scope locks ---------------------------------------------------------------------
    async def acquire(self, scope: str, context: str) -> bool:
        if await self._insert_once(locks_table, {"scope": scope, "context": context}):
            return True
        async with self._use(write=False) as conn:
            holder = (await run(conn, self._holder, {"w_scope": scope})).scalar()
        return bool(holder == context)

    async def release(self, scope: str, context: str) -> None:
        async with self._use(write=True) as conn:
            await run(conn, self._release, {"w_scope": scope, "w_context": context})

    # problem occurrences -------------------------------------------------------------
    async def occurrences(self, problem_ids: builtins.list[str]) -> builtins.list[Occurrence]:
        """Every occurrence of these problems (keys `project/stage/service/PID`), oldest
        first (by primary key)."""
        if not problem_ids:
            return []
        p = problems_table
        query = sa.select(p).where(p.c.problem_id.in_(problem_ids)).order_by(p.c.opened)
        async with self._use(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [Occurrence(**r._mapping) for r in rows]

    async def latest_occurrence(self, problem_id: str) -> Occurrence | None:
        async with self._use(write=False) as conn:
            row = (await run(conn, self._latest, {"w_problem_id": problem_id})).first()
        return Occurrence(**row._mapping) if row is not None else None

    async def occurrence_for(self, context: str) -> Occurrence | None:
        async with self._use(write=False) as conn:
            row = (await run(conn, self._occurrence_for, {"w_context": context})).first()
        return Occurrence(**row._mapping) if row is not None else None

    async def claim_occurrence(
        self,
        problem_id: str,
        context: str,
        source: str,
        now: float,
        *,
        event_id: str | None = None,
        number: int | None = None,
        emitted: float | None = None,
        reopen_seconds: float = 0.0,
    ) -> Occurrence | None:
        """A new occurrence, or None when the notification repeats one (the recurrence rule,
        docs/control-plane.md): the event that opened an occurrence of this problem is a
        repeat; so is any OPEN while the latest occurrence is open. After it resolved, a
        numbered notification (`number`, the monitor's `occurrence`) is new only with a
        higher number; an unnumbered one only when it was emitted after the RESOLVED and
        arrives at least `reopen_seconds` after it."""
        params = {"w_problem_id": problem_id, "w_event_id": event_id or ""}
        async with self._use(write=False) as conn:
            row = (await run(conn, self._latest_seen, params)).first()
        if row is not None and event_id is not None and row.seen:
            return None  # the event that opened an occurrence of this problem, again
        latest = (
            Occurrence(**{k: v for k, v in row._mapping.items() if k != "seen"})
            if row is not None
            else None
        )
        if latest is not None:
            if latest.state == "OPEN":
                return None
            if number is not None and latest.number is not None:
                if number <= latest.number:
                    return None
            else:
                resolved = latest.resolved if latest.resolved is not None else latest.opened
                if now < resolved + reopen_seconds:
                    return None
                if emitted is not None and emitted < resolved:
                    return None
        seq_number = latest.occurrence + 1 if latest else 1
        occ = Occurrence(
            problem_id, seq_number, context, "OPEN", source, now, None, event_id, number
        )
        row = {
            "problem_id": problem_id,
            "occurrence": seq_number,
            "context": context,
            "state": "OPEN",
            "source": source,
            "opened": now,
            "resolved": None,
            "event_id": event_id,
            "number": number,
        }
        return occ if await self._insert_once(problems_table, row) else None

    async def context_used(self, context: str) -> bool:
        """True if a sequence or a problem occurrence has this keptnContext (one statement)."""
        async with self._use(write=False) as conn:
            return (await run(conn, self._context_used, {"w_context": context})).first() is not None

    async def resolve_occurrence(self, problem_id: str, now: float) -> Occurrence | None:
        """Mark the open occurrence RESOLVED; the occurrence, or None if none was open."""
        latest = await self.latest_occurrence(problem_id)
        if latest is None or latest.state != "OPEN":
            return None
        t = problems_table
        async with self._use(write=True) as conn:
            done = await conn.execute(
                sa.update(t)
                .where(
                    t.c.problem_id == problem_id,
                    t.c.occurrence == latest.occurrence,
                    t.c.state == "OPEN",
                )
                .values(state="RESOLVED", resolved=now)
            )
        return replace(latest, state="RESOLVED", resolved=now) if done.rowcount else None

    # action ledger -------------------------------------------------------------------
    async def claim_action(
        self, context: str, index: int, scope: str, action: str, now: float
    ) -> bool:
        """True for the one caller that may execute this action; the claim is leased to this
        replica (renewed by its heartbeat while the action runs)."""
        row = {"context": context, "action_index": index, "scope": scope, "action": action}
        lease = {"owner": self.lease.owner, "lease_until": self.lease.until()}
        return await self._insert_once(actions_table, {**row, "started": now, **lease})

    async def settle_orphaned_action(
        self, context: str, index: int, *, message: str, now: float, previous_life: bool
    ) -> bool:
        """Close a claim whose runner died (its lease expired, or — `previous_life` — it is
        this replica's own from before a restart) as `unknown` with result `fail`: it may or
        may not have run, so it is never run again; the remediation goes on to its
        evaluation, which decides whether the next action is needed. False if the claim is finished, or still leased by a live
        runner."""
        a = actions_table
        orphaned = sa.or_(a.c.lease_until.is_(None), a.c.lease_until < now)
        if previous_life:
            orphaned = sa.or_(orphaned, a.c.owner == self.lease.owner)
        async with self._use(write=True) as conn:
            done = await conn.execute(
                sa.update(a)
                .where(
                    a.c.context == context,
                    a.c.action_index == index,
                    a.c.finished.is_(None),
                    orphaned,
                )
                .values(status="unknown", result="fail", message=message, finished=now)
            )
        return bool(done.rowcount)

    async def settle_stranded_actions(self, *, limit: int = 100) -> builtins.list[tuple[str, int]]:
        """Close the claims stranded on this replica's sequences: unfinished, their lease
        expired (the runner died, or stopped heartbeating), their sequence open and held by
        this replica. Sequence leases and claim leases are renewed in separate transactions,
        so a replica that takes a sequence over can find its claim still leased by the dead
        runner for a while; without this sweep nobody would look at the claim again before
        the task timed out. Closed as `unknown`/`fail`, like `settle_orphaned_action`: never
        run again. Claims of this replica's own runners are left to `_claimed_elsewhere`
        (one of them may still be running here while the database was away). The (context,
        action index) of every claim closed (their engine resumes them)."""
        a, s = actions_table, sequences_table
        now = self.lease.clock.now()
        mine = (
            sa.select(s.c.context)
            .where(s.c.owner == self.lease.owner, s.c.state == "started")
            .scalar_subquery()
        )
        orphaned = sa.and_(
            a.c.finished.is_(None),
            sa.or_(a.c.lease_until.is_(None), a.c.lease_until < now),
            sa.or_(a.c.owner.is_(None), a.c.owner != self.lease.owner),
            a.c.context.in_(mine),
        )
        candidates = sa.select(a.c.context, a.c.action_index).where(orphaned).limit(limit)
        if self._postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        async with self._use(write=True) as conn:
            found = (await conn.execute(candidates)).all()
            closed: builtins.list[tuple[str, int]] = []
            for row in found:
                done = await conn.execute(
                    sa.update(a)
                    .where(
                        a.c.context == row.context,
                        a.c.action_index == row.action_index,
                        orphaned,  # re-checked on the locked row
                    )
                    .values(status="unknown", result="fail", message=ORPHANED_ACTION, finished=now)
                )
                if done.rowcount:
                    closed.append((row.context, int(row.action_index)))
        return closed

    async def finish_action(
        self,
        context: str,
        index: int,
        *,
        status: str,
        result: str,
        message: str,
        data: dict[str, Any],
        now: float,
    ) -> None:
        params = {
            "w_context": context,
            "w_action_index": index,
            "status": status,
            "result": result,
            "message": message,
            "data": json.dumps(data),
            "finished": now,
        }
        async with self._use(write=True) as conn:
            await run(conn, self._finish_action, params)

    async def get_action(self, context: str, index: int) -> ActionRecord | None:
        params = {"w_context": context, "w_action_index": index}
        async with self._use(write=False) as conn:
            row = (await run(conn, self._get_action, params)).first()
        if row is None:
            return None
        return ActionRecord(
            row.context,
            row.action_index,
            row.action,
            row.status,
            row.result,
            row.message,
            json.loads(row.data) if row.data else {},
            row.started,
            row.finished,
            row.owner,
            row.lease_until,
        )

    async def actions_since(
        self, scope: str, since: float, *, exclude: str = ""
    ) -> tuple[int, float | None]:
        """How many actions ran on the scope since `since`, and when the latest one started
        (actions named `exclude`, the escalations, do not count)."""
        params = {"w_scope": scope, "w_exclude": exclude}
        async with self._use(write=False) as conn:
            row = (await run(conn, self._actions_since, {**params, "w_since": since})).first()
        count, last = (row.recent, row.last) if row is not None else (0, None)
        return int(count or 0), (float(last) if last is not None else None)

    # leases (see leases.py) --------------------------------------------------------------
    async def heartbeat(self) -> int:
        """Renew every lease this replica holds (open sequences, running actions)."""
        s, a = sequences_table, actions_table
        owner, until = self.lease.owner, self.lease.until()
        # two short transactions: a step locks an action row before its sequence row, so
        # one transaction locking sequences, then actions, could deadlock with it
        async with self._use(write=True) as conn:
            seqs = await conn.execute(
                sa.update(s)
                .where(s.c.owner == owner, s.c.state.in_(OPEN_STATES))
                .values(lease_until=until)
            )
        async with self._use(write=True) as conn:
            acts = await conn.execute(
                sa.update(a)
                .where(a.c.owner == owner, a.c.finished.is_(None))
                .values(lease_until=until)
            )
        return int(seqs.rowcount or 0) + int(acts.rowcount or 0)

    async def release_leases(self) -> None:
        """Give up this replica's leases now (a clean shutdown): others take over at once."""
        s, a = sequences_table, actions_table
        owner = self.lease.owner
        async with self._use(write=True) as conn:
            await conn.execute(
                sa.update(s)
                .where(s.c.owner == owner, s.c.state.in_(OPEN_STATES))
                .values(lease_until=None)
            )
        async with self._use(write=True) as conn:
            await conn.execute(
                sa.update(a)
                .where(a.c.owner == owner, a.c.finished.is_(None))
                .values(lease_until=None)
            )

    async def take_over(
        self, *, previous_life: bool = False, limit: int = 100
    ) -> builtins.list[Sequence]:
        """Lease to this replica the open sequences whose lease expired (their owner died
        or let go) — with `previous_life` also those this replica id held before a restart.
        Never a sequence a live replica holds: the UPDATE re-checks the expiry on the locked
        row, and on PostgreSQL rows another replica is claiming are skipped."""
        t = sequences_table
        owner, now = self.lease.owner, self.lease.clock.now()
        expired = sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now)
        if previous_life:
            orphaned: Any = sa.or_(expired, t.c.owner == owner)
        else:
            orphaned = sa.and_(expired, sa.or_(t.c.owner.is_(None), t.c.owner != owner))
        candidates = (
            sa.select(t.c.context)
            .where(t.c.state.in_(OPEN_STATES), orphaned)
            .order_by(t.c.created)
            .limit(limit)
        )
        if self._postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        async with self._use(write=True) as conn:
            rows = (
                await conn.execute(
                    sa.update(t)
                    .where(t.c.context.in_(candidates.scalar_subquery()), orphaned)
                    .values(owner=owner, lease_until=self.lease.until())
                    .returning(*t.c)
                )
            ).all()
        return sorted((_from_row(r) for r in rows), key=lambda seq: seq.created)

    async def due(self, *, limit: int = 100) -> builtins.list[tuple[str, float]]:
        """(context, deadline) of this replica's started sequences whose timer is due."""
        t = sequences_table
        now = self.lease.clock.now()
        async with self._use(write=False) as conn:
            rows = (
                await conn.execute(
                    sa.select(t.c.context, t.c.deadline)
                    .where(
                        t.c.owner == self.lease.owner,
                        t.c.state == "started",
                        t.c.deadline <= now,
                        sa.not_(t.c.paused),
                    )
                    .order_by(t.c.deadline)
                    .limit(limit)
                )
            ).all()
        return [(r.context, float(r.deadline)) for r in rows]

    async def stalled(self, *, limit: int = 100) -> builtins.list[str]:
        """This replica's waiting sequences whose scope nobody holds (the finisher of the
        previous one died before it started the next)."""
        t, lk = sequences_table, locks_table
        scope = t.c.project + "/" + t.c.stage + "/" + t.c.service
        held = sa.select(lk.c.scope).where(lk.c.scope == scope).exists()
        async with self._use(write=False) as conn:
            rows = (
                await conn.execute(
                    sa.select(t.c.context)
                    .where(t.c.owner == self.lease.owner, t.c.state == "waiting", ~held)
                    .order_by(t.c.created)
                    .limit(limit)
                )
            ).all()
        return [r.context for r in rows]
