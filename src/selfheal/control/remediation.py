"""The built-in task handlers of a remediation: `get-action` (Keptn's remediation-service),
`action` for in-process providers, and `evaluation` (Keptn's lighthouse).

Each answers the `.triggered` event with `.started` and `.finished` through the event log,
like any external service would, so the engine cannot tell them apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from selfheal.control import messages
from selfheal.control.actions import (
    ActionProvider,
    ActionRequest,
    ActionResult,
    action_from_payload,
    action_to_payload,
    describe,
)
from selfheal.control.engine import SequenceEngine, section
from selfheal.control.evaluation import Evaluator, SliScope
from selfheal.control.sequences import ORPHANED_ACTION, Sequence
from selfheal.control.specs import Remediation, SpecError, load_remediation, parse_duration
from selfheal.core import CloudEvent, SelfhealError, task_event

log = logging.getLogger(__name__)
ALIASES = {"featuretoggle": "toggle-feature"}
RECORD_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0)
"""Seconds between tries of recording an action's result while the database is away."""
ORPHANED = ORPHANED_ACTION


@lru_cache(maxsize=256)
def parsed_remediation(text: str) -> Remediation:
    return load_remediation(text)


class SequenceResources:
    """A sequence's view of the project files: the revision it started with."""

    def __init__(self, engine: SequenceEngine, seq: Sequence) -> None:
        self._engine = engine
        self._seq = seq

    async def read(self, uri: str) -> str | None:
        seq = self._seq
        found = await self._engine.projects.get_resource(
            seq.project, seq.stage, seq.service, uri, seq.revision
        )
        return found.content if found is not None else None


def problem_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    problem = data.get("problem")
    return problem if isinstance(problem, Mapping) else {}


def labels_of(data: Mapping[str, Any]) -> dict[str, str]:
    labels = data.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


class RemediationTasks:
    def __init__(self, engine: SequenceEngine, evaluator: Evaluator, *, dry_run: bool) -> None:
        self.engine = engine
        self.evaluator = evaluator
        self.dry_run = dry_run
        self.providers: dict[str, ActionProvider] = {}
        self._running: set[tuple[str, int]] = set()
        """(context, index) of the actions this process is executing now."""
        engine.handlers.update(
            {"get-action": self.get_action, "action": self.action, "evaluation": self.evaluation}
        )

    def register(self, provider: ActionProvider) -> None:
        for name in provider.names:
            self.providers[name] = provider

    def provider_for(self, action: str) -> ActionProvider | None:
        return self.providers.get(action) or self.providers.get(ALIASES.get(action, ""))

    def _reply(
        self, seq: Sequence, triggered: CloudEvent, phase: str, data: dict[str, Any], source: str
    ) -> CloudEvent:
        task = triggered.type.removeprefix("sh.keptn.event.").rsplit(".", 1)[0]
        base = {"project": seq.project, "stage": seq.stage, "service": seq.service}
        body = {**base, "labels": labels_of(triggered.payload()), **data}
        problem = triggered.payload().get("problem")
        if isinstance(problem, dict):
            # every task event carries the problem, so write-back finds it on each step
            body.setdefault("problem", problem)
        if phase == "started":
            body.setdefault("status", "succeeded")
        event = CloudEvent(
            type=task_event(task, phase),
            source=source,
            data=body,
            time=_iso(self.engine.runtime.clock.now()),
        ).with_extensions(shkeptncontext=seq.context, triggeredid=triggered.id)
        return event

    async def _answer(
        self, seq: Sequence, triggered: CloudEvent, source: str, finished: dict[str, Any]
    ) -> None:
        """`.started` and `.finished` of a quick built-in task, applied in one engine step."""
        started = self._reply(seq, triggered, "started", {}, source)
        done = self._reply(seq, triggered, "finished", finished, source)
        await self.engine.answer(seq.context, [started, done])

    # get-action ----------------------------------------------------------------------
    async def get_action(self, seq: Sequence, triggered: CloudEvent) -> None:
        source = "selfheal/remediation"
        data = triggered.payload()
        problem = problem_of(data)
        title = str(problem.get("ProblemTitle") or problem.get("problemTitle") or "")
        root = problem.get("RootCause") or problem.get("rootCause")
        text = await SequenceResources(self.engine, seq).read("remediation.yaml")
        ga = section(data, "get-action")
        index = int(ga.get("actionIndex", 0) or 0)
        if text is None:
            # Keptn's remediation-service: no file is an error of the task, not "no action"
            why = f"no remediation.yaml for {seq.project}/{seq.stage}/{seq.service}"
            await self._answer(
                seq, triggered, source, {"status": "errored", "result": "fail", "message": why}
            )
            return
        try:
            actions = parsed_remediation(text).actions_for(
                title, str(root) if isinstance(root, str) else None
            )
        except SpecError as exc:
            await self._answer(
                seq,
                triggered,
                source,
                {"status": "errored", "result": "fail", "message": f"remediation.yaml: {exc}"},
            )
            return
        why = (
            f"no more remediation actions for problem {title!r} (tried {index})"
            if actions
            else f"no remediation action configured for problem {title!r}"
        )
        if index >= len(actions):
            body = {
                "status": "succeeded",
                "result": "fail",
                "message": why,
                "get-action": {"actionIndex": index, "total": len(actions), "exhausted": True},
            }
        else:
            action = actions[index]
            if not action.description:
                action = replace(action, description=describe(action))
            body = {
                "status": "succeeded",
                "result": "pass",
                "message": f"next action: {action.name}",
                "action": action_to_payload(action),
                "get-action": {"actionIndex": index + 1, "total": len(actions)},
            }
        await self._answer(seq, triggered, source, body)

    # action --------------------------------------------------------------------------
    async def action(self, seq: Sequence, triggered: CloudEvent) -> None:
        data = triggered.payload()
        raw = section(data, "action")
        action = action_from_payload(raw)
        provider = self.provider_for(action.action)
        if provider is None:
            return  # an external provider answers, or the task times out
        ga = section(data, "get-action")
        index = max(0, int(ga.get("actionIndex", 1) or 1) - 1)
        await self.run(
            seq, index, action, problem_of(data), labels_of(data), provider, triggered=triggered
        )

    def _finished_action(
        self, seq: Sequence, triggered: CloudEvent, source: str, action: Any, result: ActionResult
    ) -> CloudEvent:
        data = triggered.payload()
        return self._reply(
            seq,
            triggered,
            "finished",
            {
                "status": result.status,
                "result": result.result,
                "message": messages.action_finished(source, result.result, result.status)
                + (f" ({result.message})" if result.message else ""),
                "action": {**action_to_payload(action), "result": dict(result.data)},
                "problem": dict(problem_of(data)),
            },
            source,
        )

    async def run(
        self,
        seq: Sequence,
        index: int,
        action: Any,
        problem: Mapping[str, Any],
        labels: Mapping[str, str],
        provider: ActionProvider,
        *,
        triggered: CloudEvent | None = None,
    ) -> ActionResult | None:
        """Execute once per (context, index), only under a claim that succeeded.

        A finished claim is answered from the ledger. A claim another runner holds is left
        to it while its lease lives (None: that runner answers); a claim whose runner died
        (lease expired, or this replica's own from before a restart) is closed as `unknown`
        with result `fail` — it may or may not have run, and is never run twice. With `triggered`, the claim and
        `.started` are one engine step (committed before the provider runs), and the
        ledger entry and `.finished` are another."""
        engine, store = self.engine, self.engine.store
        clock = engine.runtime.clock
        origin = f"selfheal/{action.action}"
        key = (seq.context, index)
        committed: list[bool] = []
        if key not in self._running:  # a claim already made is not made again (no row)
            async with engine.lock(seq.context), engine.steps.open():
                if await store.claim_action(
                    seq.context, index, seq.scope, action.action, clock.now()
                ):
                    engine.steps.later(lambda: committed.append(True))
                    if triggered is not None:
                        message = {"message": messages.action_started(origin)}
                        started = self._reply(seq, triggered, "started", message, origin)
                        await engine.apply(started)
        if not committed:  # lost the claim, or the step rolled back (the sequence moved on)
            return await self._claimed_elsewhere(seq, index, action, origin, triggered)
        self._running.add(key)
        try:
            return await self._execute(seq, index, action, problem, labels, provider, triggered)
        finally:
            self._running.discard(key)

    async def _claimed_elsewhere(
        self, seq: Sequence, index: int, action: Any, origin: str, triggered: CloudEvent | None
    ) -> ActionResult | None:
        engine, store = self.engine, self.engine.store
        if (seq.context, index) in self._running:
            return None  # this replica runs it right now and will answer
        record = await store.get_action(seq.context, index)
        if record is not None and record.finished is None:
            await store.settle_orphaned_action(
                seq.context,
                index,
                message=ORPHANED,
                now=engine.runtime.clock.now(),
                previous_life=record.owner == store.lease.owner,
            )
            # closed now — by this call, the poll's sweep of stranded claims, or its runner
            # answering — or still held by a live runner (then it answers)
            record = await store.get_action(seq.context, index)
        if record is None or record.finished is None:
            return None
        result = ActionResult(
            "errored" if record.status == "errored" else "succeeded",
            "fail" if record.result == "fail" else "pass",
            record.message or "",
            record.data,
        )
        if triggered is not None:
            done = self._finished_action(seq, triggered, origin, action, result)
            await engine.answer(seq.context, [done])
        return result

    async def _execute(
        self,
        seq: Sequence,
        index: int,
        action: Any,
        problem: Mapping[str, Any],
        labels: Mapping[str, str],
        provider: ActionProvider,
        triggered: CloudEvent | None,
    ) -> ActionResult:
        engine, store = self.engine, self.engine.store
        clock = engine.runtime.clock
        origin = f"selfheal/{action.action}"
        request = ActionRequest(
            keptn_context=seq.context,
            action_index=index,
            action=action,
            project=seq.project,
            stage=seq.stage,
            service=seq.service,
            problem=problem,
            labels=labels,
            dry_run=self.dry_run,
            resources=SequenceResources(self.engine, seq),
        )
        outcome: ActionResult
        try:
            outcome = await provider.execute(request)
        except SelfhealError as exc:
            outcome = ActionResult("errored", "fail", str(exc))
        except Exception as exc:  # a provider's bug must end the task, not hang it
            log.exception("action provider for %s failed", action.action)
            outcome = ActionResult("errored", "fail", f"{exc.__class__.__name__} in provider")
        finish = partial(
            store.finish_action,
            seq.context,
            index,
            status=outcome.status,
            result=outcome.result,
            message=outcome.message,
            data=dict(outcome.data),
        )
        # the action ran: its result is recorded, waiting for a database that is away
        # (restarting) rather than leaving a claim nobody will ever finish
        for delay in (*RECORD_RETRIES, None):
            try:
                recorded: list[bool] = []
                async with engine.lock(seq.context), engine.steps.open():
                    await finish(now=clock.now())
                    engine.steps.later(partial(recorded.append, True))
                    if triggered is not None:
                        done = self._finished_action(seq, triggered, origin, action, outcome)
                        await engine.apply(done)
                if not recorded:  # the sequence moved on meanwhile: the ledger still gets it
                    await finish(now=clock.now())
                return outcome
            except SQLAlchemyError as exc:
                if delay is None:
                    raise
                log.warning(
                    "recording action %d of %s failed (%s); trying again in %.1f s",
                    index,
                    seq.context,
                    exc.__class__.__name__,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # evaluation ----------------------------------------------------------------------
    async def evaluation(self, seq: Sequence, triggered: CloudEvent) -> None:
        source = "selfheal/lighthouse"
        data = triggered.payload()
        props = section(data, "evaluation")
        end = self.engine.runtime.clock.now()
        try:
            frame = parse_duration(str(props.get("timeframe") or "5m"))
        except ValueError:
            frame = 300.0
        occurrence = await self.engine.store.occurrence_for(seq.context)
        scope = SliScope(seq.project, seq.stage, seq.service, labels_of(data), problem_of(data))
        try:
            result = await self.evaluator.evaluate(
                context=seq.context,
                scope=scope,
                start=end - frame,
                end=end,
                read=SequenceResources(self.engine, seq).read,
                problem_source=occurrence.source if occurrence else None,
            )
        except SpecError as exc:
            await self._answer(
                seq,
                triggered,
                source,
                {"status": "errored", "result": "fail", "message": f"slo.yaml: {exc}"},
            )
            return
        body = {
            "status": "succeeded",
            "result": result.result,
            "message": messages.evaluation_finished(result.result, result.score),
            "evaluation": result.payload,
            "problem": dict(problem_of(data)),
        }
        await self._answer(seq, triggered, source, body)


def _iso(epoch: float) -> str:
    from selfheal.core import iso_from_epoch

    return iso_from_epoch(epoch)
