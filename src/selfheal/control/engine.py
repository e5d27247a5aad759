"""The sequence engine: runs shipyard sequences as Keptn's shipyard-controller does.

Tasks go out as `sh.keptn.event.<task>.triggered` with the merged payload; any provider (a
built-in handler here, or an external one through the bus or the event API) answers with
`.started` and `.finished`. The engine keeps every sequence's state in the database, waits
(`triggeredAfter`, task timeouts, cooldown, approval expiry) on `runtime.clock`, runs one
sequence per project/stage/service at a time and queues the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any

from prometheus_client import Counter, Histogram

from selfheal.control import messages, steps
from selfheal.control.config import ControlSettings
from selfheal.control.projects import SHIPYARD, ProjectStore
from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.control.specs import Shipyard, SpecError, Task, load_shipyard
from selfheal.control.steps import Steps
from selfheal.core import CloudEvent, new_id, pages, parse_type, sequence_event, task_event
from selfheal.core.keptn import PROBLEM_ESCALATED
from selfheal.runtime import Runtime
from selfheal.storage import EventQuery

log = logging.getLogger(__name__)
SOURCE = "selfheal/control"
TaskHandler = Callable[[Sequence, CloudEvent], Awaitable[None]]
Hook = Callable[[Sequence], Awaitable[str | None]]
AfterTask = Callable[[Sequence, Task, Mapping[str, Any]], Awaitable[None]]
Outcome = Callable[[Sequence, str], Awaitable[str]]
"""Maps a finishing sequence's outcome (a completed restore turns `remediated` into
`restored`)."""
"""Called inside the step that applied a task's `.finished` (e.g. arming a restore)."""
_RESERVED = ("status", "result", "message")
ESCALATING = ("exhausted", "escalated")
TASK_RETRY_MAX = 10.0
"""Seconds at most between two tries of a built-in task whose run failed (the database away)."""
"""Outcomes of a remediation that hand the problem to people (`PROBLEM_ESCALATED` goes out)."""


def section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """`data[key]` when it is an object, else an empty one."""
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


@lru_cache(maxsize=256)
def parsed_shipyard(text: str) -> Shipyard:
    """Files are immutable per revision, so their parsed form is shared."""
    return load_shipyard(text)


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Keptn's payload merge: nested objects merge, everything else is replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class Locks:
    """In-process locks per sequence, bounded by use: an entry exists only while someone
    holds or waits for it, and is dropped by its last user, never while held."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0 and self._entries.get(key) is entry:
                del self._entries[key]


OWN_SECTION = {"get-action": "action"}
"""A task whose `.finished` *chooses* a section: that section is replaced, never merged."""


def carry(data: Mapping[str, Any], task: str, finished: Mapping[str, Any]) -> dict[str, Any]:
    """A sequence's data after `task` finished with `finished`.

    Keptn merges finished payloads into the sequence's context, but the `action` get-action
    chose must reach the action provider as it is: merging it with the previous round's action
    (and that action's `result`) would make the provider re-apply an earlier action."""
    extra = {k: v for k, v in finished.items() if k not in ("project", "stage", "service")}
    out = merge(data, {k: v for k, v in extra.items() if k not in ("action", "get-action")})
    chosen = OWN_SECTION.get(task)
    for key in ("action", "get-action"):
        if key not in extra:
            continue
        value = extra[key]
        if key in (chosen, task) or not isinstance(value, Mapping):
            out[key] = dict(value) if isinstance(value, Mapping) else value
        elif isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = dict(value)
    if chosen is not None and chosen not in extra:
        out.pop(chosen, None)  # nothing chosen this round: no stale choice stays behind
    return out


def task_payload(data: Mapping[str, Any], task: Task) -> dict[str, Any]:
    """A task's `.triggered` data: the sequence's data, with the task's own section being the
    section as chosen (for `action`: exactly get-action's answer) plus the shipyard's
    `properties`."""
    out = dict(data)
    own = out.get(task.name)
    out[task.name] = merge(own if isinstance(own, Mapping) else {}, dict(task.properties))
    return out


class SequenceEngine:
    def __init__(
        self,
        runtime: Runtime,
        settings: ControlSettings,
        projects: ProjectStore,
        store: SequenceStore,
        steps: Steps | None = None,
    ) -> None:
        self.runtime = runtime
        self.steps = steps or Steps(runtime.database, runtime.events)
        self.settings = settings
        self.projects = projects
        self.store = store
        self.handlers: dict[str, TaskHandler] = {}
        self.before_action: Hook | None = None
        self.after_task: list[AfterTask] = []
        self.outcome_of: Outcome | None = None
        self.locks = Locks()
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._work: set[asyncio.Task[None]] = set()
        self._waking = 0
        self._mine: dict[str, None] = {}  # ids of events this engine already applied itself
        self._finished_count = Counter(
            "selfheal_control_sequences_finished",
            "Sequences finished, by sequence name and outcome",
            ["sequence", "outcome"],
            registry=runtime.registry,
        )
        self._duration = Histogram(
            "selfheal_control_sequence_seconds",
            "Time from a sequence's creation to its end",
            ["sequence"],
            registry=runtime.registry,
            buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
        )

    @property
    def busy(self) -> bool:
        """True while a task handler or a woken timer runs (tests and drains wait on it)."""
        return bool(self._work) or self._waking > 0

    # plumbing ----------------------------------------------------------------------
    def lock(self, context: str) -> AbstractAsyncContextManager[None]:
        """The in-process lock of one sequence (take it before opening a step)."""
        return self.locks.hold(context)

    def handled_here(self, event: CloudEvent) -> bool:
        """True (once) for an event this engine emitted and applied directly: its copy from
        the bus needs no second look."""
        if event.id in self._mine and event.source.startswith("selfheal/"):
            del self._mine[event.id]
            return True
        return False

    def mark_applied(self, event: CloudEvent) -> CloudEvent:
        """Remember `event` as applied here; returns it marked `applied` for the bus when a
        step is active (the step stores it with what applying it changed, in one
        transaction, so no other replica's engine needs to look at it either)."""
        if len(self._mine) >= 50_000:
            for key in list(self._mine)[:10_000]:
                del self._mine[key]
        self._mine[event.id] = None
        return replace(event, applied=True) if steps.current() is not None else event

    def spawn(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run `work()` as a task once the active step (if any) has committed."""
        self.steps.later(lambda: self._spawn_now(work, name))

    def _spawn_now(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        async def run() -> None:
            steps.detach()
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", name)

        task = asyncio.create_task(run(), name=name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def _schedule(self, seq: Sequence) -> None:
        """(Re-)arm the sequence's timer once the active step (if any) has committed."""
        self.steps.later(lambda: self._schedule_now(seq))

    def _schedule_now(self, seq: Sequence) -> None:
        old = self._timers.pop(seq.context, None)
        if old is not None and old is not asyncio.current_task():
            old.cancel()
        if seq.deadline is None or seq.state == "finished":
            return
        deadline, context = seq.deadline, seq.context

        async def wake() -> None:
            steps.detach()
            await self.runtime.clock.sleep(deadline - self.runtime.clock.now())
            if self._timers.get(context) is asyncio.current_task():
                del self._timers[context]
            self._waking += 1
            try:
                await self.on_timer(context, deadline)
            finally:
                self._waking -= 1

        self._timers[context] = asyncio.create_task(wake(), name=f"timer:{context}")

    async def stop(self) -> None:
        for task in [*self._timers.values(), *self._work]:
            task.cancel()
        for task in [*self._timers.values(), *self._work]:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._timers.clear()

    async def publish(self, seq: Sequence, type_: str, data: dict[str, Any], **ext: str) -> str:
        event = CloudEvent(
            type=type_,
            source=SOURCE,
            data=data,
            id=ext.pop("id", "") or new_id(),
            time=_iso(self.runtime.clock.now()),
        ).with_extensions(
            shkeptncontext=seq.context,
            gitcommitid=ext.pop("gitcommitid", "") or (str(seq.revision) if seq.revision else None),
            **ext,
        )
        await self.steps.publish(event)
        return event.id

    async def apply(self, event: CloudEvent) -> None:
        """Emit an answer into the active step and apply it at once (no bus round trip)."""
        await self.steps.publish(self.mark_applied(event))
        await self._on_task_event(event)

    async def answer(self, context: str, events: list[CloudEvent]) -> None:
        """A built-in provider's answers (`.started`, `.finished`), applied in one step."""
        async with self.lock(context), self.steps.open():
            for event in events:
                await self.apply(event)

    def base(self, seq: Sequence) -> dict[str, Any]:
        data = {k: v for k, v in seq.data.items() if k not in _RESERVED}
        data.update(project=seq.project, stage=seq.stage, service=seq.service)
        return data

    async def tasks(self, seq: Sequence) -> tuple[Task, ...]:
        resource = await self.projects.get_resource(seq.project, "", "", SHIPYARD, seq.revision)
        if resource is None:
            return ()
        definition = parsed_shipyard(resource.content).sequence(seq.stage, seq.name)
        if definition is None:
            return ()
        tasks = tuple(definition.tasks)
        if self.settings.require_approval and seq.name == "remediation":
            out: list[Task] = []
            for task in tasks:
                if task.name == "action":
                    out.append(Task(name="approval"))
                out.append(task)
            tasks = tuple(out)
        return tasks

    # intake of sequence triggers ----------------------------------------------------
    async def trigger(self, event: CloudEvent, stage: str, name: str) -> Sequence | None:
        context = event.shkeptncontext or event.id
        result: Sequence | None = None
        async with self.lock(context), self.steps.open():
            result = await self.trigger_here(event, stage, name)
        return result

    async def trigger_here(self, event: CloudEvent, stage: str, name: str) -> Sequence | None:
        """Start (or queue) the sequence inside the caller's lock and step."""
        context = event.shkeptncontext or event.id
        data = event.payload()
        project, service = event.project, event.service
        if not project or not service:
            log.warning("sequence event %s without project/service ignored", event.id)
            return None
        revision = await self.projects.revision(project)
        now = self.runtime.clock.now()
        labels = {str(k): str(v) for k, v in section(data, "labels").items()}
        labels.setdefault(
            "Sequence URL", pages.absolute(self.runtime.public_url, pages.sequence(context))
        )
        seq = Sequence(
            context=context,
            project=project,
            stage=stage,
            service=service,
            name=name,
            revision=revision or 0,
            data={**{k: v for k, v in data.items() if k not in _RESERVED}, "labels": labels},
            message="waiting for the running sequence of this service",
            created=now,
            updated=now,
        )
        if not await self.store.insert(seq):
            return None
        if revision is None:
            return await self.finish(seq, "errored", f"project {project!r} does not exist")
        try:
            tasks = await self.tasks(seq)
        except SpecError as exc:
            return await self.finish(seq, "errored", f"shipyard.yaml is invalid: {exc}")
        if not tasks:
            return await self.finish(
                seq, "errored", f"stage {stage!r} has no sequence {name!r} in the shipyard"
            )
        return await self._try_start(seq)

    async def _try_start(self, seq: Sequence) -> Sequence | None:
        if not await self.store.acquire(seq.scope, seq.context):
            return seq
        started = await self.store.save(
            seq, state="started", message="", updated=self.runtime.clock.now()
        )
        if started is None:
            return None
        return await self.advance(started)

    # moving forward -----------------------------------------------------------------
    async def advance(self, seq: Sequence) -> Sequence | None:
        """Start the next task (or wait for it), or complete the sequence."""
        if seq.paused or seq.state != "started":
            return seq
        tasks = await self.tasks(seq)
        index = seq.task_index + 1
        if index >= len(tasks):
            return await self.complete(seq)
        task = tasks[index]
        now = self.runtime.clock.now()
        if task.triggered_after > 0:
            after = min(task.triggered_after, self.settings.max_triggered_after_seconds)
            saved = await self.store.save(
                seq, task_index=index, phase="delayed", deadline=now + after, updated=now
            )
            if saved is not None:
                self._schedule(saved)
            return saved
        return await self.dispatch(seq, index, task)

    async def dispatch(self, seq: Sequence, index: int, task: Task) -> Sequence | None:
        if task.name == "action" and self.before_action is not None:
            note = await self.before_action(seq)
            if note is not None:  # the safety layer took over (cooldown wait, breaker)
                fresh = await self.store.get(seq.context)
                return fresh
        now = self.runtime.clock.now()
        triggered_id = new_id()
        approval = task.name == "approval"
        saved = await self.store.save(
            seq,
            task_index=index,
            phase="approval" if approval else "triggered",
            triggered_id=triggered_id,
            deadline=now
            + (
                self.settings.approval_expiry_seconds
                if approval
                else self.settings.start_timeout_seconds
            ),
            updated=now,
        )
        if saved is None:
            return None
        await self._emit_triggered(saved, task)
        self._schedule(saved)
        return saved

    def triggered_payload(self, seq: Sequence, task: Task) -> dict[str, Any]:
        data = task_payload(self.base(seq), task)
        if task.name == "action":
            action = section(data, "action")
            data["message"] = messages.action_triggered(
                str(action.get("action") or "?"), str(action.get("description") or "")
            )
        return data

    async def _emit_triggered(self, seq: Sequence, task: Task) -> None:
        assert seq.triggered_id is not None
        event_type = task_event(task.name, "triggered")
        data = self.triggered_payload(seq, task)
        await self.publish(seq, event_type, data, id=seq.triggered_id)
        if task.name == "approval":
            await self.publish(
                seq,
                task_event("approval", "started"),
                {**self.base(seq), "status": "succeeded", "message": "waiting for approval"},
                triggeredid=seq.triggered_id,
            )
            return
        handler = self.handlers.get(task.name)
        if handler is not None:
            event = CloudEvent(type=event_type, source=SOURCE, data=data, id=seq.triggered_id)
            ready = event.with_extensions(shkeptncontext=seq.context)
            name = f"task:{task.name}:{seq.context}"
            self.spawn(lambda: self._run_task(handler, seq, ready, name), name)

    async def _run_task(
        self, handler: TaskHandler, seq: Sequence, event: CloudEvent, name: str
    ) -> None:
        """Run a built-in task (get-action, evaluation …) in this process until it answered.

        A run that fails (the database restarting under it) is tried again with a growing
        delay for as long as the sequence still waits for this task and nobody answered it —
        the replica holding the lease is alive, so no other replica would take it over, and
        the sequence would otherwise sit until its start timeout errors it."""
        delay = 0.5
        while True:
            try:
                await handler(seq, event)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; trying again in %.1f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(TASK_RETRY_MAX, delay * 2)
            try:
                fresh = await self.store.get(seq.context)
                if (
                    fresh is None
                    or fresh.state != "started"
                    or fresh.triggered_id != seq.triggered_id
                    or fresh.phase not in ("triggered", "started")
                ):
                    return  # it moved on meanwhile (answered, timed out, aborted)
                page = await self.runtime.events.query(
                    EventQuery(
                        keptn_context=seq.context,
                        triggeredid=seq.triggered_id,
                        page_size=50,
                        count=False,
                    )
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # still away: wait and look again
                log.warning("%s: cannot read its state yet: %s", name, exc)
                continue
            answers = [e for e in page.events if e.type.endswith(".finished")]
            if answers:  # its answer committed before the failure: apply it
                await self.on_task_event(answers[0])
                return
            seq = fresh

    # answers from providers ---------------------------------------------------------
    async def on_task_event(self, event: CloudEvent) -> None:
        parsed = parse_type(event.type)
        context = event.shkeptncontext
        if parsed is None or parsed.stage is not None or context is None:
            return
        if parsed.phase not in ("started", "finished"):
            return
        async with self.lock(context), self.steps.open():
            await self._on_task_event(event)

    async def _on_task_event(self, event: CloudEvent) -> None:
        parsed = parse_type(event.type)
        context = event.shkeptncontext
        if parsed is None or parsed.stage is not None or context is None:
            return
        seq = await self.store.get(context)
        if seq is None or seq.state != "started" or seq.triggered_id is None:
            return
        if event.triggeredid is not None and event.triggeredid != seq.triggered_id:
            return
        tasks = await self.tasks(seq)
        if not 0 <= seq.task_index < len(tasks) or tasks[seq.task_index].name != parsed.name:
            return
        if parsed.phase == "started":
            if seq.phase == "triggered":
                now = self.runtime.clock.now()
                saved = await self.store.save(
                    seq,
                    phase="started",
                    deadline=now + self.settings.task_timeout_seconds,
                    updated=now,
                )
                if saved is not None:
                    self._schedule(saved)
            return
        await self._finished(seq, tasks[seq.task_index], event.payload())

    async def _finished(self, seq: Sequence, task: Task, data: Mapping[str, Any]) -> None:
        status = str(data.get("status") or "succeeded")
        result = str(data.get("result") or "pass")
        message = str(data.get("message") or "")
        merged = carry(seq.data, task.name, data)
        merged["result"] = result
        now = self.runtime.clock.now()
        seq = (
            await self.store.save(
                seq, data=merged, phase="idle", triggered_id=None, deadline=None, updated=now
            )
            or seq
        )
        self._schedule(seq)
        for hook in self.after_task:
            await hook(seq, task, data)
        if status in ("errored", "aborted"):
            await self.finish(seq, "errored", f"task {task.name} errored: {message}".rstrip(": "))
            return
        if task.name == "get-action" and result == "fail":
            await self.finish(seq, "exhausted", message or "no more remediation actions")
            return
        if task.name == "approval" and result == "fail":
            await self.finish(seq, "rejected", message or "the action was not approved")
            return
        if result == "fail" and seq.name != "remediation":
            await self.finish(seq, "failed", f"task {task.name} failed: {message}".rstrip(": "))
            return
        await self.advance(seq)

    async def complete(self, seq: Sequence) -> Sequence | None:
        """The last task finished: remediation decides between done and another round."""
        if seq.name != "remediation":
            return await self.finish(seq, "succeeded", "all tasks finished")
        evaluation = seq.data.get("evaluation")
        result = evaluation.get("result") if isinstance(evaluation, Mapping) else None
        ga = section(seq.data, "get-action")
        number, total = int(ga.get("actionIndex", 0)), ga.get("total")
        action = section(seq.data, "action")
        from selfheal.control.actions import describe_payload

        what = f"action {number} of {total or '?'} ({describe_payload(action)})"
        if result is None:
            return await self.finish(seq, "remediated", f"{what} finished (no evaluation)")
        if result in ("pass", "warning"):
            return await self.finish(seq, "remediated", f"the evaluation passed after {what}")
        saved = await self.store.save(
            seq,
            task_index=-1,
            iteration=seq.iteration + 1,
            message=f"the evaluation failed after {what}; trying the next action",
            updated=self.runtime.clock.now(),
        )
        return await self.advance(saved) if saved is not None else None

    async def finish(
        self, seq: Sequence, outcome: str, message: str, *, release: bool = True
    ) -> Sequence | None:
        now = self.runtime.clock.now()
        if self.outcome_of is not None:
            outcome = await self.outcome_of(seq, outcome)
        done = await self.store.save(
            seq,
            state="finished",
            outcome=outcome,
            message=message,
            phase="idle",
            deadline=None,
            updated=now,
        )
        if done is None:
            return None
        self.steps.later(partial(self._count_finished, done, outcome, now))
        self._schedule(done)
        status = {"errored": "errored", "aborted": "aborted"}.get(outcome, "succeeded")
        result = (
            "pass" if outcome in ("remediated", "resolved", "succeeded", "restored") else "fail"
        )
        if outcome in ESCALATING and done.name == "remediation":
            await self._emit_escalated(done)
        await self._emit_finished(done, status, result)
        if release:
            await self.store.release(done.scope, done.context)
            nxt = await self.store.next_waiting((done.project, done.stage, done.service))
            if nxt is not None:
                self.spawn(partial(self._start_waiting, nxt.context), f"dequeue:{nxt.context}")
        if done.name != "remediation":
            await self._triggered_on(done, result)
        return done

    def _count_finished(self, done: Sequence, outcome: str, now: float) -> None:
        """Metrics only for a finish that committed."""
        self._finished_count.labels(done.name, outcome).inc()
        self._duration.labels(done.name).observe(max(0.0, now - done.created))

    async def _sequence_triggered_id(self, done: Sequence) -> str:
        """The id of the `<stage>.<sequence>.triggered` event this sequence answers (Keptn's
        shipyard-controller sets it as the `.finished` event's `triggeredid`)."""
        page = await self.runtime.events.query(
            EventQuery(
                keptn_context=done.context,
                type=sequence_event(done.stage, done.name, "triggered"),
                page_size=1,
                oldest_first=True,
                count=False,
            )
        )
        return page.events[0].id if page.events else ""

    async def _emit_finished(self, done: Sequence, status: str, result: str) -> None:
        triggered = await self._sequence_triggered_id(done)
        await self.publish(
            done,
            sequence_event(done.stage, done.name, "finished"),
            {
                **self.base(done),
                "status": status,
                "result": result,
                "message": messages.outcome_words(done.outcome, done.message),
                "outcome": done.outcome or "",
            },
            **({"triggeredid": triggered} if triggered else {}),
        )

    async def _emit_escalated(self, done: Sequence) -> None:
        """People take over: its own event, not a Keptn `action.triggered` that every action
        provider on the bus would see (Keptn ends an exhausted remediation with no action)."""
        await self.publish(
            done,
            PROBLEM_ESCALATED,
            {
                **self.base(done),
                "reason": done.outcome or "",
                "message": done.message,
                "iteration": done.iteration,
            },
        )

    async def _start_waiting(self, context: str) -> None:
        async with self.lock(context), self.steps.open():
            seq = await self.store.get(context)
            if seq is not None and seq.state == "waiting":
                await self._try_start(seq)

    async def _triggered_on(self, seq: Sequence, result: str) -> None:
        resource = await self.projects.get_resource(seq.project, "", "", SHIPYARD, seq.revision)
        if resource is None:
            return
        event_type = sequence_event(seq.stage, seq.name, "finished")
        for stage, definition in parsed_shipyard(resource.content).sequences_triggered_by(
            event_type, result
        ):
            data = {**self.base(seq), "triggeredBy": seq.context}
            for key in ("labels", *OWN_SECTION, *OWN_SECTION.values()):
                data.pop(key, None)  # a new sequence chooses its own actions from the start
            event = CloudEvent(
                type=sequence_event(stage, definition.name, "triggered"),
                source=SOURCE,
                data={**data, "stage": stage, "labels": seq.data.get("labels", {})},
            ).with_extensions(shkeptncontext=new_id())
            await self.steps.publish(event)

    # timers, control, recovery ------------------------------------------------------
    async def on_timer(self, context: str, deadline: float) -> None:
        async with self.lock(context), self.steps.open():
            seq = await self.store.get(context)
            if seq is None or seq.state != "started" or seq.deadline != deadline:
                return
            tasks = await self.tasks(seq)
            task = tasks[seq.task_index] if 0 <= seq.task_index < len(tasks) else None
            if task is None:
                return
            if seq.phase in ("delayed", "cooldown"):
                if seq.paused:
                    return
                await self.dispatch(seq, seq.task_index, task)
                return
            if seq.phase == "approval":
                message = "approval expired"
                await self.publish(
                    seq,
                    task_event("approval", "finished"),
                    {**self.base(seq), "status": "errored", "result": "fail", "message": message},
                    triggeredid=seq.triggered_id or "",
                )
                await self.finish(
                    seq, "rejected", f"{message} after {self.settings.approval_expiry_seconds:g}s"
                )
                return
            what = "started" if seq.phase == "triggered" else "finished"
            limit = (
                self.settings.start_timeout_seconds
                if seq.phase == "triggered"
                else self.settings.task_timeout_seconds
            )
            message = f"task {task.name} timed out: nobody {what} it within {limit:g}s"
            await self.publish(
                seq,
                task_event(task.name, "finished"),
                {**self.base(seq), "status": "errored", "result": "fail", "message": message},
                triggeredid=seq.triggered_id or "",
            )
            await self.finish(seq, "errored", message)

    async def recover(self) -> int:
        """After a start: take over and resume the orphaned sequences — those whose lease
        expired and those this replica id held in a previous life — never one a live
        replica holds (see `leases.py`)."""
        count = 0
        for _ in range(100):  # bounded: 100 rounds of 100
            taken = await self.store.take_over(previous_life=True)
            for seq in taken:
                self.resume(seq)
            count += len(taken)
            if len(taken) < 100:
                break
        return count

    async def poll(self) -> int:
        """One round of work driven by committed state: take over sequences whose owner
        died, fire this replica's due timers (the in-memory timer is only the fast path),
        start waiting sequences whose scope is free. How many sequences were handled."""
        self._waking += 1
        try:
            taken = await self.store.take_over()
            for seq in taken:
                log.info("taking over sequence %s (its replica's lease expired)", seq.context)
                self.resume(seq)
            due = await self.store.due()
            for context, deadline in due:
                self.spawn(partial(self.on_timer, context, deadline), f"due:{context}")
            stalled = await self.store.stalled()
            for context in stalled:
                self.spawn(partial(self._start_waiting, context), f"dequeue:{context}")
            resumed = {seq.context for seq in taken}
            stranded = [  # a sequence taken over just now is resumed whole (above)
                (context, index)
                for context, index in await self.store.settle_stranded_actions()
                if context not in resumed
            ]
            for context, index in stranded:
                log.info("closed the stranded claim of action %d of sequence %s", index, context)
                self.spawn(partial(self._resume_stranded, context, index), f"stranded:{context}")
            return len(taken) + len(due) + len(stalled) + len(stranded)
        finally:
            self._waking -= 1

    def resume(self, seq: Sequence) -> None:
        """Pick up a sequence from its committed state: re-arm its timer, replay answers that
        arrived, re-run a built-in task, start the next task."""
        if seq.state == "waiting":
            self.spawn(partial(self._start_waiting, seq.context), f"dequeue:{seq.context}")
        elif seq.phase in ("delayed", "cooldown", "approval"):
            self._schedule(seq)
        elif seq.phase in ("triggered", "started") and seq.triggered_id:
            self.spawn(partial(self._resume_task, seq), f"resume:{seq.context}")
        elif seq.phase == "idle":
            self.spawn(partial(self._resume_idle, seq.context), f"resume:{seq.context}")

    async def _resume_stranded(self, context: str, index: int) -> None:
        """A sequence whose action claim `index` was just closed as orphaned: if it still
        waits for that action, its handler answers from the ledger (the finished claim)."""
        seq = await self.store.get(context)
        if seq is None or seq.state != "started" or seq.phase not in ("triggered", "started"):
            return
        tasks = await self.tasks(seq)
        if not 0 <= seq.task_index < len(tasks) or tasks[seq.task_index].name != "action":
            return
        ga = section(seq.data, "get-action")
        if seq.triggered_id and max(0, int(ga.get("actionIndex", 1) or 1) - 1) == index:
            await self._resume_task(seq)

    async def _resume_idle(self, context: str) -> None:
        async with self.lock(context), self.steps.open():
            seq = await self.store.get(context)
            if seq is not None and seq.phase == "idle" and seq.state == "started":
                await self.advance(seq)

    async def _resume_task(self, seq: Sequence) -> None:
        page = await self.runtime.events.query(
            EventQuery(
                keptn_context=seq.context, triggeredid=seq.triggered_id, page_size=50, count=False
            )
        )
        answers = [e for e in page.events if e.type.endswith(".finished")]
        if answers:
            await self.on_task_event(answers[0])
            return
        async with self.lock(seq.context), self.steps.open():
            fresh = await self.store.get(seq.context)
            if fresh is None or fresh.state != "started" or fresh.triggered_id != seq.triggered_id:
                return  # it moved on meanwhile
            seq = fresh
            self._schedule(seq)
            tasks = await self.tasks(seq)
            if 0 <= seq.task_index < len(tasks) and tasks[seq.task_index].name != "approval":
                await self._emit_triggered(seq, tasks[seq.task_index])


def _iso(epoch: float) -> str:
    from selfheal.core import iso_from_epoch

    return iso_from_epoch(epoch)
