"""Guard rails around actions: a per-service cooldown, a circuit breaker, and escalation.

The cooldown makes an action wait (on `runtime.clock`) until the service's previous action is
`cooldown_seconds` old. The breaker counts actions per service in a sliding window from the
action ledger (so it holds across replicas and restarts); past the limit the sequence stops
acting and escalates. Escalating (here and when a remediation is exhausted) is the engine's
`sh.selfheal.problem.escalated` event, which the integrations turn into notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from selfheal.control.config import ControlSettings
from selfheal.control.engine import SequenceEngine
from selfheal.control.remediation import RemediationTasks
from selfheal.control.sequences import Sequence

log = logging.getLogger(__name__)


class Safety:
    def __init__(
        self, engine: SequenceEngine, tasks: RemediationTasks, settings: ControlSettings
    ) -> None:
        self.engine = engine
        self.tasks = tasks
        self.settings = settings
        engine.before_action = self.before_action

    def _index(self, seq: Sequence) -> int:
        ga = seq.data.get("get-action")
        raw = ga.get("actionIndex", 1) if isinstance(ga, Mapping) else 1
        return max(0, int(raw or 1) - 1)

    async def before_action(self, seq: Sequence) -> str | None:
        """None to go ahead; otherwise the sequence was parked (cooldown) or ended (breaker)."""
        if seq.name != "remediation":
            return None
        store = self.engine.store
        if await store.get_action(seq.context, self._index(seq)) is not None:
            return None  # already claimed: a re-dispatch after a restart
        now = self.engine.runtime.clock.now()
        window = self.settings.breaker_window_seconds
        count, last = await store.actions_since(
            seq.scope, now - window, exclude=self.settings.escalate_action
        )
        if count >= self.settings.breaker_max_actions:
            message = (
                f"circuit breaker open: {count} actions on {seq.service} in the last "
                f"{window:g}s (limit {self.settings.breaker_max_actions})"
            )
            await self.engine.finish(seq, "escalated", message)
            return message
        cooldown = self.settings.cooldown_seconds
        if cooldown > 0 and last is not None and now - last < cooldown:
            until = last + cooldown
            saved = await store.save(
                seq,
                phase="cooldown",
                deadline=until,
                message=f"cooling down: the previous action on {seq.service} ran {now - last:g}s ago",
                updated=now,
            )
            if saved is not None:
                self.engine._schedule(saved)
            return "cooldown"
        return None
