"""The `escalate` action: tell humans through every configured notifier, and succeed.

Escalating is the last resort of a remediation, so it must never hold the sequence up: each
notifier gets the escalation in the background, and the deliveries are recorded as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from selfheal.control import ActionRequest, ActionResult
from selfheal.core import CloudEvent
from selfheal.core.keptn import task_event
from selfheal.integrations.messages import Notification, escalation

NAMES = ("escalate",)
Broadcast = Callable[[Notification], Coroutine[Any, Any, int]]


class EscalateProvider:
    names = NAMES

    def __init__(
        self, broadcast: Broadcast, *, ui_url: str, source: str = "selfheal/integrations"
    ) -> None:
        self._broadcast = broadcast
        self._ui_url = ui_url
        self._source = source
        self._tasks: set[asyncio.Task[int]] = set()

    def _event(self, request: ActionRequest) -> CloudEvent:
        data: dict[str, Any] = {
            "project": request.project,
            "stage": request.stage,
            "service": request.service,
            "problem": dict(request.problem),
            "labels": dict(request.labels),
            "action": {
                "name": request.action.name,
                "action": request.action.action,
                "description": request.action.description,
            },
        }
        return CloudEvent(
            type=task_event("action", "triggered"),
            source=self._source,
            id=f"escalate:{request.keptn_context}:{request.action_index}",
            data=data,
            extensions={"shkeptncontext": request.keptn_context},
        )

    async def execute(self, request: ActionRequest) -> ActionResult:
        value = request.action.value
        detail = value.get("message") if isinstance(value, dict) else value
        title = str(request.problem.get("ProblemTitle") or "a problem")
        message = (
            f"Escalation: the remediation of {title} in {request.project}/{request.stage}/"
            f"{request.service} needs a human"
            + (f" - {detail}" if detail else "")
            + (f" ({request.action.description})" if request.action.description else "")
        )
        if request.dry_run:
            return ActionResult(message=f"would escalate: {message}")
        note = escalation(self._event(request), message=message, ui_url=self._ui_url)
        task = asyncio.create_task(self._broadcast(note))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ActionResult(
            message="escalated to the configured notifiers", data={"message": message}
        )

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
