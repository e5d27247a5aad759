"""Problems in: each occurrence of a problem starts one remediation sequence in its own
context; repeated notifications of an open occurrence start nothing; RESOLVED stops it.

The database decides between concurrent copies (unique key on problem and occurrence), so
1,000 copies of one notification, on one replica or several, start exactly one sequence.
"""

from __future__ import annotations

import logging

from selfheal.control.engine import SOURCE, SequenceEngine, parsed_shipyard
from selfheal.control.problems import ProblemNotice, problem_payload, read_notice
from selfheal.control.projects import SHIPYARD
from selfheal.control.sequences import Occurrence
from selfheal.control.specs import SpecError
from selfheal.core import (
    CloudEvent,
    epoch_from_iso,
    iso_from_epoch,
    new_id,
    pages,
    sequence_event,
)

log = logging.getLogger(__name__)


def emitted(event: CloudEvent) -> float | None:
    """When the notifier sent the event (its `time`), if it says."""
    if not event.time:
        return None
    try:
        return epoch_from_iso(event.time)
    except ValueError:
        return None


class ProblemIntake:
    def __init__(self, engine: SequenceEngine, *, reopen_seconds: float = 60.0) -> None:
        self.engine = engine
        self.reopen_seconds = reopen_seconds

    async def _claim(
        self, key: str, context: str, notice: ProblemNotice, event: CloudEvent
    ) -> Occurrence | None:
        return await self.engine.store.claim_occurrence(
            key,
            context,
            notice.source,
            self.engine.runtime.clock.now(),
            event_id=f"{event.source} {event.id}",
            number=notice.occurrence,
            emitted=emitted(event),
            reopen_seconds=self.reopen_seconds,
        )

    async def _stage(self, notice: ProblemNotice) -> str | None:
        if notice.stage:
            return notice.stage
        if not notice.project:
            return None
        projects = self.engine.projects
        revision = await projects.revision(notice.project)
        if revision is None:
            return None
        found = await projects.get_resource(notice.project, "", "", SHIPYARD, revision)
        if found is None:
            return None
        try:
            shipyard = parsed_shipyard(found.content)
        except SpecError:
            return None
        for stage in shipyard.stages:
            if stage.sequence("remediation") is not None:
                return stage.name
        return None

    async def on_problem(self, event: CloudEvent) -> None:
        notice = read_notice(event)
        if notice is None:
            return
        stage = await self._stage(notice)
        if notice.state == "RESOLVED":
            await self.resolved(notice, stage)
            return
        if not notice.project or not notice.service or not stage:
            log.warning(
                "problem %s has no project/stage/service (tags or KeptnProject…): ignored",
                notice.problem_id,
            )
            return
        engine = self.engine
        store = engine.store
        context = event.shkeptncontext or new_id()
        if await store.context_used(context):
            context = new_id()  # Dynatrace reuses a context per PID: a new occurrence, a new one
        key = f"{notice.project}/{stage}/{notice.service}/{notice.problem_id}"
        labels = {}
        if notice.url:
            labels["Problem URL"] = notice.url
        labels["Sequence URL"] = pages.absolute(engine.runtime.public_url, pages.sequence(context))
        trigger = CloudEvent(
            type=sequence_event(stage, "remediation", "triggered"),
            source=SOURCE,
            data={
                "project": notice.project,
                "stage": stage,
                "service": notice.service,
                "problem": problem_payload(notice),
                "labels": labels,
            },
            time=iso_from_epoch(engine.runtime.clock.now()),
        ).with_extensions(shkeptncontext=context)
        # one step: the occurrence, the sequence, its scope lock and its first task
        async with engine.lock(context), engine.steps.open():
            claimed = await self._claim(key, context, notice, event)
            if claimed is None:
                return  # a repeat (see `claim_occurrence`): no new occurrence
            await engine.steps.publish(engine.mark_applied(trigger))
            await engine.trigger_here(trigger, stage, "remediation")

    async def claim_external(self, event: CloudEvent) -> bool:
        """A `remediation.triggered` from outside: False if it repeats an open occurrence."""
        notice = read_notice(event)
        if notice is None or not notice.project or not notice.service:
            return True
        store = self.engine.store
        context = event.shkeptncontext or event.id
        if await store.occurrence_for(context) is not None:
            return True
        key = f"{notice.project}/{event.stage or notice.stage}/{notice.service}/{notice.problem_id}"
        return await self._claim(key, context, notice, event) is not None

    async def resolved(self, notice: ProblemNotice, stage: str | None) -> None:
        key = f"{notice.project}/{stage}/{notice.service}/{notice.problem_id}"
        engine = self.engine
        occurrence = await engine.store.resolve_occurrence(key, engine.runtime.clock.now())
        if occurrence is None:
            return
        async with engine.lock(occurrence.context), engine.steps.open():
            seq = await engine.store.get(occurrence.context)
            if seq is None or seq.state == "finished":
                return
            tasks = await engine.tasks(seq)
            current = tasks[seq.task_index] if 0 <= seq.task_index < len(tasks) else None
            name = current.name if current is not None else ""
            if name == "evaluation" and seq.phase == "delayed":
                await engine.dispatch(seq, seq.task_index, current)  # type: ignore[arg-type]
                return  # evaluate now instead of waiting: the effect is known
            if name == "evaluation" or (name == "action" and seq.phase in ("triggered", "started")):
                return  # in flight: the evaluation will see the problem closed
            acted = seq.iteration > 0
            await engine.finish(
                seq,
                "resolved",
                "the problem closed by itself"
                + (" after an earlier action" if acted else " before any action ran")
                + "; no further action",
            )
