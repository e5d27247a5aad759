"""The control context as a component of the composition root."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from selfheal.bus import Subscription
from selfheal.control.config import ControlSettings
from selfheal.control.engine import SOURCE, SequenceEngine
from selfheal.control.evaluation import Evaluator
from selfheal.control.intake import ProblemIntake
from selfheal.control.leases import Lease, LeaseKeeper
from selfheal.control.projects import ProjectStore
from selfheal.control.remediation import RemediationTasks
from selfheal.control.restore import FLAG_EVENTS, RestoreMachine
from selfheal.control.restore_store import FINAL, RestoreStore, restores_table
from selfheal.control.safety import Safety
from selfheal.control.sequences import (
    SequenceStore,
    actions_table,
    problems_table,
    sequences_table,
)
from selfheal.control.service import ControlService
from selfheal.control.steps import Steps
from selfheal.core import CloudEvent, new_id, parse_type
from selfheal.core.keptn import LEGACY_PROBLEM_OPEN, PROBLEM
from selfheal.storage import Rule

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.runtime import Runtime

log = logging.getLogger(__name__)
DAY = 86400.0


def retention_rules(days: float) -> list[Rule]:
    """Finished sequences, resolved occurrences and finished ledger entries older than `days`
    (an occurrence kept that long still recognises a late repeat of its notification)."""
    window = days * DAY
    return [
        Rule(
            "control_sequences",
            sequences_table,
            "updated",
            window,
            key=("context",),
            where=lambda t: t.c.state == "finished",
        ),
        Rule(
            "control_problems",
            problems_table,
            "opened",
            window,
            key=("problem_id", "occurrence"),
            where=lambda t: t.c.state == "RESOLVED",
        ),
        Rule(
            "control_actions",
            actions_table,
            "started",
            window,
            key=("context", "action_index"),
            where=lambda t: t.c.finished.is_not(None),
        ),
        Rule(
            "control_restores",
            restores_table,
            "updated",
            window,
            key=("id",),
            where=lambda t: t.c.state.in_(FINAL),
        ),
    ]


class ControlComponent:
    name = "control"

    def __init__(self, runtime: Runtime, settings: ControlSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        steps = Steps(runtime.database, runtime.events)
        replica = settings.replica_id or (
            "local" if runtime.database.dialect == "sqlite" else f"replica-{new_id()[:12]}"
        )
        self.lease = Lease(replica, settings.lease_seconds, runtime.clock)
        self.sequences = SequenceStore(runtime.database, steps, self.lease)
        self.engine = SequenceEngine(
            runtime, settings, ProjectStore(runtime.database, steps), self.sequences, steps
        )
        self.evaluator = Evaluator(self._problem_open)
        self.tasks = RemediationTasks(self.engine, self.evaluator, dry_run=settings.dry_run)
        self.safety = Safety(self.engine, self.tasks, settings)
        self.intake = ProblemIntake(self.engine, reopen_seconds=settings.reopen_seconds)
        self.keeper = LeaseKeeper(
            self.engine,
            heartbeat_seconds=settings.heartbeat_seconds,
            poll_seconds=settings.poll_seconds,
        )
        self.restores = RestoreMachine(self.engine, RestoreStore(steps, self.lease), settings)
        self.service = ControlService(self.engine, self.tasks, self.evaluator, self.restores)
        self._subscriptions: list[Subscription] = []
        self._restore_loop: asyncio.Task[None] | None = None
        for rule in retention_rules(runtime.retention_windows.sequences_days):
            runtime.retention.add(rule)
        if settings.prometheus_url:
            from selfheal.control.prometheus import PrometheusSliProvider

            self.service.register_sli_provider(
                "prometheus", PrometheusSliProvider(settings.prometheus_url)
            )

    async def _problem_open(self, context: str) -> bool | None:
        occurrence = await self.sequences.occurrence_for(context)
        return None if occurrence is None else occurrence.state == "OPEN"

    def routers(self) -> list[APIRouter]:
        from selfheal.control import bridge, http, restore_http

        return [
            http.router(self.service),
            bridge.router(self.service),
            restore_http.router(self.restores, self.runtime),
        ]

    async def on_event(self, event: CloudEvent) -> None:
        if self.engine.handled_here(event):
            return  # this engine emitted it and applied it already
        if event.applied:
            return  # another replica's engine applied it in the step that stored it
        if event.type == LEGACY_PROBLEM_OPEN:
            await self.intake.on_problem(event)
            return
        parsed = parse_type(event.type)
        if parsed is None:
            return
        if parsed.stage is not None:
            if parsed.phase != "triggered":
                return
            if (
                parsed.name == "remediation"
                and event.source != SOURCE
                and not await self.intake.claim_external(event)
            ):
                return
            await self.engine.trigger(event, parsed.stage, parsed.name)
            return
        restore_answer = parsed.name == "approval" and parsed.phase == "finished"
        if restore_answer and await self.restores.on_approval(event):
            return  # it answered a restore's approval request
        if parsed.phase in ("started", "finished"):
            await self.engine.on_task_event(event)

    async def start(self) -> None:
        events = self.runtime.events
        for _ in range(self.settings.workers):
            self._subscriptions.append(
                await events.subscribe(PROBLEM, self.intake.on_problem, group="control-problems")
            )
            self._subscriptions.append(
                await events.subscribe("sh.keptn.event.>", self.on_event, group="control-engine")
            )
        self._subscriptions.append(
            await events.subscribe(
                FLAG_EVENTS, self.restores.on_flag_event, group="control-restore-flags"
            )
        )
        resumed = await self.engine.recover()
        if resumed:
            log.info("resuming %d orphaned sequences", resumed)
        self.keeper.start()
        self._restore_loop = asyncio.create_task(self._drive_restores(), name="restores")

    async def _drive_restores(self) -> None:
        """Restores are rows with a due time: every replica polls for the due ones it may
        drive (its own, or those whose owner's lease expired)."""
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            try:
                await self.restores.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down: try again next round
                log.exception("driving restores failed")

    async def stop(self, *, release: bool = True) -> None:
        """Stop handling; with `release` (a clean shutdown) hand the leases back so another
        replica takes the open sequences over at once. `release=False` leaves them to
        expire, as a killed process would."""
        await self.keeper.stop()
        if self._restore_loop is not None:
            self._restore_loop.cancel()
            try:
                await self._restore_loop
            except asyncio.CancelledError:
                pass
            self._restore_loop = None
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        await self.engine.stop()
        if release:
            await self.keeper.release()
            await self.restores.store.release_leases()
        self.engine.steps.close()
