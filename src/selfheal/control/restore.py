"""Bring traffic back by itself: the restore state machine.

A remediation whose rule has a `restore:` block and that switched a kill switch on *arms* a
restore (a row in `control_restores`, written in the engine step that applied the action's
answer). From then on the restore is driven by its row's due time, on whichever replica holds
its lease (`RestoreStore.due`), reading `runtime.clock`:

    armed ──problem mitigated──► verifying ──N probes ok──► [approval] ──► stepping 0 … n
      ▲                            ▲   │ cap/hour                           │  │ hold ok, last
      │ (hold over, failing)       │   ▼                                    │  ▼
      └──────── held ◄─person─  backoff ◄──────────breach (100 % fallback)──┘  restored
                kept ◄─"keep fallback"                      (problem closed) ──► closed

Every transition is one compare-and-set of the row plus its events in one transaction (the
engine's `Steps`: event store + outbox). Side effects on the flag come *before* the commit and
set absolute values, so a replica that dies between the two leaves a row whose transition the
next owner simply repeats: it resumes that step or falls back to 100 %.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from selfheal.control.config import ControlSettings
from selfheal.control.engine import Locks, SequenceEngine, section
from selfheal.control.errors import RestoreConflict, RestoreNotFound
from selfheal.control.remediation import SequenceResources, parsed_remediation, problem_of
from selfheal.control.restore_store import (
    APPROVAL,
    ARMED,
    BACKOFF,
    CLOSED,
    HELD,
    KEPT,
    RESTORED,
    STEPPING,
    VERIFYING,
    Restore,
    RestoreStore,
)
from selfheal.control.sequences import Sequence
from selfheal.control.specs import RestorePolicy, SpecError, Task
from selfheal.core import CloudEvent, SelfhealError, iso_from_epoch, new_id, task_event
from selfheal.storage import EventQuery

log = logging.getLogger(__name__)
SOURCE = "selfheal/restore"
ACTOR = "restore:"
"""Flag changes made by a restore carry `restore:<id>` as their actor."""
AUTOMATION = ("restore:", "remediation:")
"""Actors that are the automation itself; any other actor flipping the flag is a person."""
VERIFIED = "sh.selfheal.origin.verified"
STEP = "sh.selfheal.restore.step"
BREACHED = "sh.selfheal.restore.breached"
HELD_EVENT = "sh.selfheal.restore.held"
RESUMED = "sh.selfheal.restore.resumed"
DECIDED = "sh.selfheal.restore.decided"
APPROVAL_TRIGGERED = task_event("approval", "triggered")
FLAG_EVENTS = "selfheal.flags.>"
HOUR = 3600.0
ARMED_RECHECK = 2.0
"""How often an armed restore asks whether its problem is mitigated yet."""
NO_PROBE_RECHECK = 30.0
RESTORABLE = ("remediated", "resolved")
"""Outcomes of a remediation that a completed restore turns into `restored`."""


class ProbeResult(Protocol):
    """What the restore reads of the monitor's `ProbeOutcome`."""

    @property
    def ok(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


class ProbeCadence(Protocol):
    """How often a service's probe runs and how many successes verify it (monitor.yaml)."""

    @property
    def interval_seconds(self) -> float: ...

    @property
    def consecutive(self) -> int: ...


class Origin(Protocol):
    """The monitor's origin checks (`selfheal.monitor.MonitorService`, restore contract)."""

    def probe_settings(self, project: str, stage: str, service: str) -> ProbeCadence | None: ...

    async def probe_origin(self, project: str, stage: str, service: str) -> ProbeResult: ...

    async def origin_failure_rate(
        self, project: str, stage: str, service: str, since: float
    ) -> tuple[int, int] | None: ...


class ProblemDesk(Protocol):
    """The monitor's problem calls a restore makes."""

    async def problem_status(self, problem_id: str) -> tuple[str, float | None] | None: ...

    async def mask_problem(
        self, problem_id: str, flag: str, context: str | None = None
    ) -> bool: ...

    async def restore_problem(self, problem_id: str, message: str) -> Any: ...

    async def add_comment(
        self, problem_id: str, message: str, *, context: str = ..., author: str = ...
    ) -> Any: ...


class KillSwitch(Protocol):
    """Sets a kill switch's share of users on the fallback (the flags service)."""

    async def set_fallback(
        self,
        flag: str,
        environment: str,
        percent: int,
        *,
        project: str,
        actor: str,
        expect: int | None = None,
    ) -> None:
        """Set the share; with `expect`, only if the flag holds `expect` now, checked in the
        write's own transaction — otherwise `SwitchMoved` and nothing written."""
        ...

    async def fallback_of(self, flag: str, environment: str, *, project: str) -> int | None:
        """The share on the fallback now (0: the flag is off), None if the flag is unknown."""
        ...

    async def person_change(
        self, flag: str, environment: str, *, project: str, automation: tuple[str, ...]
    ) -> CloudEvent | None:
        """The newest change of the flag in `environment` whose actor starts with none of
        `automation`, read from the database (not the bus), as its change event."""
        ...


class SwitchMoved(Exception):
    """A compare-and-set of the kill switch found it holding `actual`, not the expected share."""

    def __init__(self, actual: int) -> None:
        super().__init__(actual)
        self.actual = actual


CAS_TRIES = 3
"""Compare-and-set rounds of one automated flag write before it gives up for this tick."""


class PersonFlipped(Exception):
    """A person changed the kill switch since the restore last looked: do not write it."""

    def __init__(self, event: CloudEvent) -> None:
        super().__init__(event.id)
        self.event = event


def _person(actor: str) -> str:
    """An actor as people read it: a console user `user:ann` is "ann (console)"; the admin
    API's and the CLI's actors are shown as they are."""
    return f"{actor.removeprefix('user:')} (console)" if actor.startswith("user:") else actor


def revision_of(event_id: str | None) -> int:
    """The flags revision of a change event's id (`flags-<revision>`); -1 if it has none."""
    if not event_id or not event_id.startswith("flags-"):
        return -1
    try:
        return int(event_id.removeprefix("flags-"))
    except ValueError:
        return -1


def _unseen(r: Restore, event: CloudEvent) -> bool:
    """A person's change the restore has not held for yet: not the one it last held for,
    not older than that one, and not older than the restore itself (a change before the
    restore existed is no flip of its kill switch)."""
    if event.id == r.flip_event or revision_of(event.id) < revision_of(r.flip_event):
        return False
    at = event.payload().get("createdAt")
    return not (isinstance(at, int | float) and at < r.created)


@dataclass
class Ports:
    origin: Origin | None = None
    desk: ProblemDesk | None = None
    switch: KillSwitch | None = None


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _flags_on(data: Mapping[str, Any]) -> tuple[list[str], str | None, str | None]:
    """The flags an action's answer switched on, with its environment and flag project."""
    result = section(section(data, "action"), "result")
    flags = section(result, "flags")
    on = [str(name) for name, value in flags.items() if value is True]
    env, project = result.get("environment"), result.get("project")
    return on, (str(env) if env else None), (str(project) if project else None)


def _change_words(r: Restore, data: Mapping[str, Any]) -> str:
    """ "switched EnableStaticContent off" from a flag change event (its flag document)."""
    after = section(data, "data")
    envs = after.get("environments")
    for env in envs if isinstance(envs, list) else ():
        if isinstance(env, Mapping) and env.get("name") == r.environment:
            enabled = env.get("enabled")
            if isinstance(enabled, bool) and data.get("type") in (
                "feature-environment-enabled",
                "feature-environment-disabled",
            ):
                return f"switched {r.flag} {'on' if enabled else 'off'}"
    return f"changed {r.flag}"


class RestoreMachine:
    def __init__(
        self,
        engine: SequenceEngine,
        store: RestoreStore,
        settings: ControlSettings,
        ports: Ports | None = None,
    ) -> None:
        self.engine = engine
        self.steps = engine.steps
        self.store = store
        self.settings = settings
        self.ports = ports or Ports()
        self.clock = engine.runtime.clock
        self.locks = Locks()
        engine.after_task.append(self.arm)
        engine.outcome_of = self.outcome_of

    def use(
        self,
        *,
        origin: Origin | None = None,
        desk: ProblemDesk | None = None,
        switch: KillSwitch | None = None,
    ) -> None:
        """Wire the monitor and flags ports (the composition root does, once)."""
        if origin is not None:
            self.ports.origin = origin
        if desk is not None:
            self.ports.desk = desk
        if switch is not None:
            self.ports.switch = switch

    # arming (inside the engine step that applied the action's answer) ----------------
    async def arm(self, seq: Sequence, task: Task, data: Mapping[str, Any]) -> None:
        if seq.name != "remediation" or task.name != "action":
            return
        if str(data.get("status") or "succeeded") != "succeeded" or data.get("result") == "fail":
            return
        flags, environment, flag_project = _flags_on(data)
        if not flags or environment is None:
            return
        policy = await self._policy(seq)
        if policy is None:
            return
        problem = problem_of(seq.data) or problem_of(data)
        problem_id = str(problem.get("PID") or problem.get("ProblemID") or "")
        if not problem_id:
            return
        now = self.clock.now()
        restore = Restore(
            id=seq.context,
            project=seq.project,
            stage=seq.stage,
            service=seq.service,
            problem_id=problem_id,
            flag=flags[0],
            environment=environment,
            flag_project=flag_project or "default",
            policy=policy,
            state=ARMED,
            message="the kill switch is on; waiting for the problem to be mitigated",
            due=now,
            owner=self.store.lease.owner,
            lease_until=self.store.lease.until(),
            created=now,
            updated=now,
            version=1,
        )
        if await self.store.insert(restore):
            await self._supersede(restore)
            self.engine.spawn(partial(self._first_tick, restore.id), f"restore:{restore.id}")

    async def _supersede(self, new: Restore) -> None:
        """One restore drives a kill switch: a new one (the problem reopened after a person
        closed it mid-restore, or another problem's remediation switched the same flag on)
        closes the older active ones of that flag, in the same step. An older one's driver
        that is mid-tick loses its compare-and-set and puts the flag where the new restore
        wants it (`_reconcile`); the new one's first armed tick makes sure it is 100 %."""
        inherit: Restore | None = None
        for old in await self.store.for_flag(new.flag, new.environment):
            if old.id == new.id:
                continue
            if old.state in (HELD, KEPT) and (inherit is None or old.updated > inherit.updated):
                inherit = old
            why = (
                f"superseded by restore {new.id} (problem {new.problem_id}): one restore drives"
                f" {new.flag} at a time"
            )
            await self._close(old, why, outcome="superseded")
        if inherit is not None:
            # a person's decision outlives the restore it was made on: a kept fallback stays
            # kept until resumed, a hold runs to its end — the new restore starts there
            text = f"restore {new.id} takes over the decision of restore {inherit.id}: " + (
                f"held for {inherit.held_by} until {_clock(inherit.hold_until or 0.0)}"
                if inherit.state == HELD
                else "the fallback stays until automation is resumed"
            )
            await self._commit(
                new,
                [],
                [text],
                state=inherit.state,
                hold_until=inherit.hold_until if inherit.state == HELD else None,
                held_by=inherit.held_by,
                flip_event=inherit.flip_event,
                message=text,
                due=inherit.hold_until if inherit.state == HELD else None,
            )

    async def _first_tick(self, restore_id: str) -> None:
        await self.tick(restore_id)

    async def outcome_of(self, seq: Sequence, outcome: str) -> str:
        """A remediation that ends after its restore brought traffic back: `restored`."""
        if seq.name != "remediation" or outcome not in RESTORABLE:
            return outcome
        r = await self.store.get(seq.context)
        return "restored" if r is not None and r.state == RESTORED else outcome

    async def _mark_sequence(self, r: Restore, words: str) -> None:
        """The remediation finished before its restore did: its outcome becomes `restored`
        (in the restore's step, so both commit or neither)."""
        engine = self.engine
        seq = await engine.store.get(r.id)
        if seq is not None and seq.state == "finished" and seq.outcome in RESTORABLE:
            await engine.store.save(seq, outcome="restored", message=words)

    async def _policy(self, seq: Sequence) -> RestorePolicy | None:
        text = await SequenceResources(self.engine, seq).read("remediation.yaml")
        if text is None:
            return None
        problem = problem_of(seq.data)
        title = str(problem.get("ProblemTitle") or problem.get("problemTitle") or "")
        root = problem.get("RootCause") or problem.get("rootCause")
        try:
            return parsed_remediation(text).restore_for(
                title, str(root) if isinstance(root, str) else None
            )
        except SpecError:
            return None

    # plumbing -------------------------------------------------------------------------
    def _event(self, r: Restore, type_: str, data: Mapping[str, Any], **ext: str) -> CloudEvent:
        body = {
            "project": r.project,
            "stage": r.stage,
            "service": r.service,
            "problemId": r.problem_id,
            "flag": r.flag,
            "environment": r.environment,
            **data,
        }
        return CloudEvent(
            type=type_,
            source=SOURCE,
            data=body,
            id=new_id(),
            time=iso_from_epoch(self.clock.now()),
        ).with_extensions(shkeptncontext=r.id, **ext)

    def _task(self, r: Restore, phase: str, data: Mapping[str, Any]) -> CloudEvent:
        """`sh.keptn.event.restore.<phase>`: one Keptn task per restore, in the remediation's
        context, so the Bridge shows it beside the remediation."""
        triggered = f"restore-{r.id}"
        if phase == "triggered":
            event = self._event(r, task_event("restore", phase), data)
            return replace(event, id=triggered)
        return self._event(r, task_event("restore", phase), data, triggeredid=triggered)

    async def _commit(
        self,
        r: Restore,
        events: list[CloudEvent],
        comments: list[str] = (),  # type: ignore[assignment]
        *,
        mark: str | None = None,
        **changes: Any,
    ) -> Restore | None:
        """One transition: the row (compare-and-set) and its events in one transaction;
        the comments once it committed. None if someone else changed the restore first."""
        saved: list[Restore] = []
        async with self.steps.open():
            new = await self.store.save(r, updated=self.clock.now(), **changes)
            if new is None:
                return None
            for event in events:
                await self.steps.publish(event)
            if mark is not None:
                await self._mark_sequence(new, mark)
            saved.append(new)
        if not saved:
            return None
        for text in comments:
            await self._comment(saved[0], text)
        return saved[0]

    async def _comment(self, r: Restore, text: str) -> None:
        desk = self.ports.desk
        if desk is None:
            return
        try:
            await desk.add_comment(r.problem_id, text, context="restore", author="selfheal")
        except SelfhealError as exc:
            log.info("restore %s: comment not written: %s", r.id, exc)

    async def _switch(self, r: Restore, percent: int, *, guard: bool = True) -> None:
        """Set the kill switch (an absolute value). With `guard` (automation's own moves),
        first look in the flag's audit log for a person's change the restore has not seen
        yet: then `PersonFlipped`, and the flag is left alone. The write itself is then a
        compare-and-set against the share the restore believes the flag holds (its state's,
        or what it reads now when its state has none), so a person's change that commits
        between that look and the write is not overwritten either: the write finds the flag
        moved, looks again, and holds. A move by automation (a replica that died between
        its flag write and its row, a superseded restore) is taken as the new expectation."""
        switch = self.ports.switch
        if switch is None:
            raise RestoreConflict("no flags service is wired for restores")
        actor = ACTOR + r.id
        if not guard:
            await switch.set_fallback(
                r.flag, r.environment, percent, project=r.flag_project, actor=actor
            )
            return
        flip = await self._person_flip(r)
        if flip is not None:
            raise PersonFlipped(flip)
        expect = r.fallback_percent
        if expect is None:
            expect = await switch.fallback_of(r.flag, r.environment, project=r.flag_project)
        for _ in range(CAS_TRIES):
            try:
                await switch.set_fallback(
                    r.flag,
                    r.environment,
                    percent,
                    project=r.flag_project,
                    actor=actor,
                    expect=expect,
                )
                return
            except SwitchMoved as moved:
                flip = await self._person_flip(r)
                if flip is not None:
                    raise PersonFlipped(flip) from None
                expect = moved.actual
        raise RestoreConflict(f"the kill switch {r.flag} kept changing; trying again next tick")

    async def _reconcile(self, r: Restore) -> None:
        """After a lost compare-and-set that followed a flag change: put the flag where
        the winning state wants it — or, if the restore was superseded meanwhile, where
        the restore that now owns the flag wants it."""
        fresh = await self.store.get(r.id)
        if fresh is not None and fresh.fallback_percent is not None:
            await self._switch(fresh, fresh.fallback_percent, guard=False)
            return
        if fresh is not None and fresh.final:
            for other in await self.store.for_flag(r.flag, r.environment):
                if other.fallback_percent is not None:
                    await self._switch(other, other.fallback_percent, guard=False)

    async def _person_flip(self, r: Restore) -> CloudEvent | None:
        """A person's change of the kill switch, from the database, that this restore has
        not handled yet (newer than the one it last held for, and not older than the
        restore itself): how a flip on another replica is noticed while the bus is away."""
        switch = self.ports.switch
        if switch is None:
            return None
        event = await switch.person_change(
            r.flag, r.environment, project=r.flag_project, automation=AUTOMATION
        )
        return event if event is not None and _unseen(r, event) else None

    async def _status(self, r: Restore) -> tuple[str, float | None] | None:
        desk = self.ports.desk
        return None if desk is None else await desk.problem_status(r.problem_id)

    # the driver -----------------------------------------------------------------------
    async def poll(self) -> int:
        """Renew this replica's leases, then drive every due restore it may drive."""
        await self.store.heartbeat()
        due = await self.store.due()
        for r in due:
            if r.owner != self.store.lease.owner:
                log.info("taking over restore %s (its replica's lease expired)", r.id)
            await self.tick(r.id)
        return len(due)

    async def tick(self, restore_id: str) -> Restore | None:
        async with self.locks.hold(restore_id):
            r = await self.store.get(restore_id)
            if r is None or r.final:
                return r
            now = self.clock.now()
            if r.due is None or r.due > now:
                return r
            try:
                flip = await self._person_flip(r)
                if flip is not None:
                    return await self._hold(r, flip)
                try:
                    return await self._tick(r, now)
                except PersonFlipped as flipped:
                    return await self._hold(r, flipped.event)
            except SelfhealError as exc:
                log.warning("restore %s: %s; retrying", r.id, exc)
                return await self._commit(
                    r, [], message=f"retrying: {exc}", due=now + self.settings.restore_check_seconds
                )

    async def _tick(self, r: Restore, now: float) -> Restore | None:
        if r.state == ARMED:
            return await self._armed(r, now)
        if r.state == VERIFYING:
            return await self._verifying(r, now)
        if r.state == STEPPING:
            return await self._stepping(r, now)
        if r.state == BACKOFF:
            return await self._commit(
                r, [], state=VERIFYING, probes_ok=0, message="verifying the origin again", due=now
            )
        if r.state == HELD:
            return await self._resume(r, now, by="hold expired", reason="the hold is over")
        return r  # approval, kept: they wait for a person (due is None)

    async def _armed(self, r: Restore, now: float) -> Restore | None:
        status = await self._status(r)
        if status is not None and status[0] != "OPEN":
            return await self._close(r, f"the problem is {status[0].lower()}; nothing to restore")
        desk = self.ports.desk
        if desk is not None and status is None:
            return await self._close(
                r, f"problem {r.problem_id} is not one the monitor tracks: nothing to mitigate"
            )
        switch = self.ports.switch
        percent = (
            await switch.fallback_of(r.flag, r.environment, project=r.flag_project)
            if switch is not None
            else None
        )
        if percent is not None and percent != 100:
            # armed means every user on the fallback: a superseded restore may have left
            # the kill switch part-way (a person's change was held before we got here)
            await self._switch(r, 100)
        if desk is not None and status is not None and status[1] is None:
            await desk.mask_problem(r.problem_id, r.flag, r.id)
        if status is None or status[1] is None:
            return await self._commit(r, [], due=now + ARMED_RECHECK)
        policy = r.policy
        triggered = self._task(
            r,
            "triggered",
            {
                "restore": {
                    "steps": list(policy.steps),
                    "holdSeconds": list(policy.hold_seconds),
                    "maxFailureRate": policy.max_failure_rate,
                    "approval": policy.approval,
                },
                "mitigatedSince": iso_from_epoch(status[1]),
            },
        )
        return await self._commit(
            r,
            [triggered],
            state=VERIFYING,
            probes_ok=0,
            message="mitigated; verifying the origin",
            due=now,
        )

    def _probe_scope(self, r: Restore) -> tuple[str, str, str]:
        return r.project, r.stage, r.policy.probe_service or r.service

    async def _verifying(self, r: Restore, now: float) -> Restore | None:
        status = await self._status(r)
        if status is not None and status[0] != "OPEN":
            return await self._close(r, f"the problem is {status[0].lower()}; nothing to restore")
        policy, origin = r.policy, self.ports.origin
        scope = self._probe_scope(r)
        probe = origin.probe_settings(*scope) if origin is not None else None
        if origin is None or probe is None:
            return await self._commit(
                r,
                [],
                message=f"no probe configured for {scope[2]} in monitor.yaml: waiting",
                due=now + NO_PROBE_RECHECK,
            )
        recent = tuple(t for t in r.attempts if t > now - HOUR)
        if len(recent) >= policy.max_attempts_per_hour:
            return await self._commit(
                r,
                [],
                attempts=recent,
                probes_ok=0,
                message=(
                    f"{len(recent)} restore attempts in the last hour (limit"
                    f" {policy.max_attempts_per_hour}): next one at {_clock(min(recent) + HOUR)}"
                ),
                due=min(recent) + HOUR,
            )
        # the cadence is monitor.yaml's, unless this remediation's restore block overrides it
        needed = policy.consecutive or probe.consecutive
        interval = policy.probe_interval_seconds or probe.interval_seconds
        outcome = await origin.probe_origin(*scope)
        if not outcome.ok:
            return await self._commit(
                r,
                [],
                probes_ok=0,
                message=f"origin probe failed: {outcome.error or 'not ok'}",
                due=now + interval,
            )
        count = r.probes_ok + 1
        if count < needed:
            return await self._commit(
                r,
                [],
                probes_ok=count,
                message=f"origin probe ok ({count} of {needed})",
                due=now + interval,
            )
        verified = self._event(r, VERIFIED, {"probes": count, "at": iso_from_epoch(now)})
        if policy.approval:
            ask = self._approval_request(r, f"origin verified ({count} probes ok)")
            return await self._commit(
                r,
                [verified, ask],
                [f"origin verified ({count} probes ok); the restore waits for an approval"],
                state=APPROVAL,
                probes_ok=count,
                message="origin verified; waiting for an approval",
                due=None,
            )
        return await self._start(r, now, [verified], f"origin verified ({count} probes ok)")

    async def _start(
        self, r: Restore, now: float, events: list[CloudEvent], why: str, *, guard: bool = True
    ) -> Restore | None:
        """Begin an attempt: the first step's rollout, then the row."""
        policy = r.policy
        await self._switch(r, policy.steps[0], guard=guard)
        first = not r.attempts
        out = list(events)
        if first:
            out.append(self._task(r, "started", {"message": why}))
        out.append(self._step_event(r, 0))
        saved = await self._commit(
            r,
            out,
            [f"{why}; restoring: {100 - policy.steps[0]} % of users back on the origin"],
            state=STEPPING,
            step=0,
            step_since=now,
            attempts=(*tuple(t for t in r.attempts if t > now - HOUR), now),
            message=self._step_message(policy, 0),
            due=now + min(self.settings.restore_check_seconds, policy.hold(0)),
        )
        if saved is None:
            await self._reconcile(r)
        return saved

    def _step_event(self, r: Restore, index: int) -> CloudEvent:
        return self._event(
            r,
            STEP,
            {"step": index, "fallbackPercent": r.policy.steps[index], "steps": len(r.policy.steps)},
        )

    @staticmethod
    def _step_message(policy: RestorePolicy, index: int) -> str:
        return (
            f"step {index + 1} of {len(policy.steps)}: {policy.steps[index]} % on the fallback,"
            f" holding {policy.hold(index):g}s"
        )

    async def _stepping(self, r: Restore, now: float) -> Restore | None:
        policy = r.policy
        since = r.step_since if r.step_since is not None else now
        origin = self.ports.origin
        scope = self._probe_scope(r)
        seen = await origin.origin_failure_rate(*scope, since) if origin is not None else None
        if seen is not None:
            requests, failures = seen
            if requests > 0 and failures / requests > policy.max_failure_rate:
                return await self._breach(r, now, requests, failures)
        if now < since + policy.hold(r.step):
            return await self._commit(
                r,
                [],
                due=min(now + self.settings.restore_check_seconds, since + policy.hold(r.step)),
            )
        if r.step + 1 >= len(policy.steps):
            return await self._restored(r, now)
        index = r.step + 1
        await self._switch(r, policy.steps[index])
        saved = await self._commit(
            r,
            [self._step_event(r, index)],
            [f"restore step {index + 1}: {100 - policy.steps[index]} % of users on the origin"],
            step=index,
            step_since=now,
            message=self._step_message(policy, index),
            due=now + min(self.settings.restore_check_seconds, policy.hold(index)),
        )
        if saved is None:
            await self._reconcile(r)
        return saved

    async def _breach(self, r: Restore, now: float, requests: int, failures: int) -> Restore | None:
        await self._switch(r, 100)
        policy = r.policy
        count = r.failures + 1
        wait = policy.backoff(count)
        rate = failures / requests
        event = self._event(
            r,
            BREACHED,
            {
                "step": r.step,
                "fallbackPercent": 100,
                "requests": requests,
                "failures": failures,
                "failureRate": rate,
                "maxFailureRate": policy.max_failure_rate,
                "retryAt": iso_from_epoch(now + wait),
            },
        )
        text = (
            f"restore step {r.step + 1} breached: {failures} of {requests} origin requests failed"
            f" ({rate:.1%} > {policy.max_failure_rate:.1%}); all users back on the fallback,"
            f" next try after {_span(wait)}"
        )
        saved = await self._commit(
            r,
            [event],
            [text],
            state=BACKOFF,
            failures=count,
            step=-1,
            step_since=None,
            probes_ok=0,
            message=text,
            due=now + wait,
        )
        if saved is None:
            await self._reconcile(r)
        return saved

    async def _restored(self, r: Restore, now: float, *, by: str | None = None) -> Restore | None:
        status = await self._status(r)
        since = status[1] if status is not None and status[1] is not None else r.created
        words = (
            f"restored after {_span(now - since)} on the fallback: all users back on the origin"
            + (f" ({by})" if by else "")
        )
        desk = self.ports.desk
        if desk is not None:
            await desk.restore_problem(r.problem_id, words)  # idempotent: first, then the row
        finished = self._task(
            r,
            "finished",
            {"status": "succeeded", "result": "pass", "outcome": "restored", "message": words},
        )
        return await self._commit(
            r,
            [finished],
            mark=words,
            state=RESTORED,
            outcome="restored",
            step_since=None,
            message=words,
            due=None,
        )

    async def _close(self, r: Restore, why: str, *, outcome: str = "closed") -> Restore | None:
        events = []
        if r.state != ARMED:
            events.append(
                self._task(
                    r,
                    "finished",
                    {"status": "succeeded", "result": "fail", "outcome": outcome, "message": why},
                )
            )
        return await self._commit(r, events, state=CLOSED, outcome=outcome, message=why, due=None)

    async def _resume(
        self, r: Restore, now: float, *, by: str, reason: str, guard: bool = True
    ) -> Restore | None:
        """Automation takes the service back (a hold is over, or a person resumed it)."""
        switch = self.ports.switch
        percent = (
            await switch.fallback_of(r.flag, r.environment, project=r.flag_project)
            if switch is not None
            else None
        )
        status = await self._status(r)
        resumed = self._event(r, RESUMED, {"by": by, "reason": reason, "fallbackPercent": percent})
        if status is not None and status[0] != "OPEN":
            return await self._close(r, f"the problem is {status[0].lower()}; nothing to restore")
        if percent == 0:
            if status is not None and status[1] is not None:
                # the person's flip-off held and the service stayed healthy: that was the restore
                return await self._restored(
                    r, now, by=f"switched off by {_person(r.held_by or by)}"
                )
            await self._switch(r, 100, guard=guard)
            return await self._commit(
                r,
                [resumed],
                [
                    f"automation resumed ({reason}): the service fails without the fallback, all"
                    " users back on it"
                ],
                state=ARMED,
                hold_until=None,
                message="fallback back on; waiting for the problem to be mitigated",
                due=now,
            )
        await self._switch(r, 100, guard=guard)
        return await self._commit(
            r,
            [resumed],
            [f"automation resumed ({reason}); verifying the origin"],
            state=VERIFYING,
            hold_until=None,
            probes_ok=0,
            message="verifying the origin",
            due=now,
        )

    # people ---------------------------------------------------------------------------
    async def on_flag_event(self, event: CloudEvent) -> None:
        """A flag change from the flags context: a person's flip of a kill switch a restore
        owns puts that restore on hold (and says so on the problem)."""
        data = event.payload()
        actor = str(data.get("createdBy") or "")
        flag, environment = data.get("featureName"), data.get("environment")
        if not flag or not environment or actor.startswith(AUTOMATION):
            return
        for r in await self.store.for_flag(str(flag), str(environment)):
            await self._held(r.id, event, actor)

    async def _held(self, restore_id: str, event: CloudEvent, actor: str) -> None:
        async with self.locks.hold(restore_id):
            r = await self.store.get(restore_id)
            if r is None or r.final:
                return
            await self._hold(r, event)

    async def _hold(self, r: Restore, event: CloudEvent) -> Restore | None:
        """Put the restore on hold for a person's change `event` (from the bus or the
        audit log; the same change from both is held once, an older one not at all)."""
        if not _unseen(r, event):
            return r
        now = self.clock.now()
        data = event.payload()
        actor = str(data.get("createdBy") or "someone")
        verb = _change_words(r, data)
        at = data.get("createdAt")
        when = float(at) if isinstance(at, int | float) else now
        hold = self.settings.restore_hold_seconds
        until = now + hold
        state = KEPT if r.state == KEPT else HELD
        text = f"{_person(actor)} {verb} at {_clock(when)}" + (
            f"; automation for {r.service} on hold until {_clock(until)}"
            if state == HELD
            else "; the fallback stays until automation is resumed"
        )
        held = self._event(
            r,
            HELD_EVENT,
            {"by": actor, "change": verb, "holdUntil": iso_from_epoch(until), "state": state},
        )
        return await self._commit(
            r,
            [held],
            [text],
            state=state,
            hold_until=until if state == HELD else None,
            held_by=actor,
            flip_event=event.id,
            step=-1,
            step_since=None,
            message=text,
            due=until if state == HELD else None,
        )

    async def _decide(self, restore_id: str) -> Restore:
        r = await self.store.get(restore_id)
        if r is None:
            raise RestoreNotFound(f"no restore {restore_id!r}")
        if r.final:
            raise RestoreConflict(f"restore {restore_id} is {r.state}")
        return r

    async def restore_now(self, restore_id: str, *, by: str) -> Restore:
        """Run the progressive restore at once (no verification, approval or cap)."""
        async with self.locks.hold(restore_id):
            r = await self._decide(restore_id)
            if r.state == STEPPING:
                raise RestoreConflict(f"restore {restore_id} is already stepping")
            now = self.clock.now()
            decided = self._event(r, DECIDED, {"decision": "restore-now", "by": by})
            saved = await self._start(r, now, [decided], f"{by} chose to restore now", guard=False)
            return self._required(saved, restore_id)

    async def keep_fallback(self, restore_id: str, *, by: str) -> Restore:
        """No restore until automation is resumed; every user on the fallback."""
        async with self.locks.hold(restore_id):
            r = await self._decide(restore_id)
            await self._switch(r, 100, guard=False)
            decided = self._event(r, DECIDED, {"decision": "keep-fallback", "by": by})
            text = f"{by} chose to keep the fallback: no restore until automation is resumed"
            saved = await self._commit(
                r,
                [decided],
                [text],
                state=KEPT,
                step=-1,
                step_since=None,
                hold_until=None,
                held_by=by,
                message=text,
                due=None,
            )
            if saved is None:
                await self._reconcile(r)
            return self._required(saved, restore_id)

    async def resume(self, restore_id: str, *, by: str) -> Restore:
        async with self.locks.hold(restore_id):
            r = await self._decide(restore_id)
            if r.state not in (HELD, KEPT):
                raise RestoreConflict(f"restore {restore_id} is not on hold ({r.state})")
            decided = self._event(r, DECIDED, {"decision": "resume-automation", "by": by})
            async with self.steps.open():
                await self.steps.publish(decided)
            saved = await self._resume(
                r, self.clock.now(), by=by, reason=f"{by} resumed it", guard=False
            )
            return self._required(saved, restore_id)

    async def approve(
        self, restore_id: str, approved: bool, *, by: str, answered: bool = False
    ) -> Restore:
        """`answered`: the decision arrived as Keptn's `approval.finished` (no second one)."""
        async with self.locks.hold(restore_id):
            r = await self._decide(restore_id)
            if r.state != APPROVAL:
                raise RestoreConflict(f"restore {restore_id} is not waiting for an approval")
            decision = "approved" if approved else "rejected"
            decided = [self._event(r, DECIDED, {"decision": decision, "by": by})]
            if not answered:
                decided += await self._approval_answer(r, approved, by)
            if approved:
                saved = await self._start(
                    r, self.clock.now(), decided, f"{by} approved", guard=False
                )
            else:
                text = f"{by} rejected the restore: the fallback stays until automation is resumed"
                saved = await self._commit(
                    r, decided, [text], state=KEPT, held_by=by, message=text, due=None
                )
            return self._required(saved, restore_id)

    # approval through Keptn's approval task: the Slack buttons (and any Keptn client) answer
    # the request; the console and the API call approve() ------------------------------
    def _approval_request(self, r: Restore, why: str) -> CloudEvent:
        """`sh.keptn.event.approval.triggered` in the remediation's context, committed with
        the move to `approval`; the integrations ask people (Slack's Approve/Reject)."""
        data = {
            "message": why,
            "approval": {"pass": "manual", "warning": "manual"},
            "restore": {"steps": list(r.policy.steps)},
        }
        event = self._event(r, APPROVAL_TRIGGERED, data)
        return replace(event, id=f"restore-{r.id}-approval-{new_id()}")

    async def _pending_approval(self, r: Restore) -> str | None:
        """The id of this restore's latest approval request (the answer's triggeredid)."""
        page = await self.engine.runtime.events.query(
            EventQuery(keptn_context=r.id, type=APPROVAL_TRIGGERED, page_size=50)
        )
        mine = [e for e in page.events if e.source == SOURCE]
        return max(mine, key=lambda e: e.time).id if mine else None

    async def _approval_answer(self, r: Restore, approved: bool, by: str) -> list[CloudEvent]:
        triggered = await self._pending_approval(r)
        if triggered is None:
            return []
        verdict = "approved" if approved else "rejected"
        data = {
            "status": "succeeded",
            "result": "pass" if approved else "fail",
            "message": f"{verdict} by {by}",
            "approval": {"by": by, "approved": approved},
        }
        return [self._event(r, task_event("approval", "finished"), data, triggeredid=triggered)]

    async def on_approval(self, event: CloudEvent) -> bool:
        """An `approval.finished` from outside (a Keptn client) answering a restore's request:
        approve or reject that restore. False if it answers anything else."""
        context, triggered = event.shkeptncontext, event.triggeredid
        if event.source == SOURCE or not context or not triggered:
            return False
        r = await self.store.get(context)
        if r is None or r.state != APPROVAL or await self._pending_approval(r) != triggered:
            return False
        data = event.payload()
        raw = data.get("approval")
        by = str((raw.get("by") if isinstance(raw, Mapping) else None) or event.source)
        approved = str(data.get("result") or "pass") == "pass"
        try:
            await self.approve(r.id, approved, by=by, answered=True)
        except RestoreConflict as exc:
            log.info("restore %s: approval not applied: %s", r.id, exc)
        return True

    @staticmethod
    def _required(saved: Restore | None, restore_id: str) -> Restore:
        if saved is None:
            raise RestoreConflict(f"restore {restore_id} changed meanwhile; try again")
        return saved

    async def get(self, restore_id: str) -> Restore:
        r = await self.store.get(restore_id)
        if r is None:
            raise RestoreNotFound(f"no restore {restore_id!r}")
        return r

    async def list(
        self, *, active: bool | None = None, problem_id: str | None = None
    ) -> list[Restore]:
        return await self.store.list(active=active, problem_id=problem_id)


__all__ = [
    "ACTOR",
    "FLAG_EVENTS",
    "KillSwitch",
    "Origin",
    "Ports",
    "ProbeResult",
    "ProblemDesk",
    "RestoreMachine",
]
