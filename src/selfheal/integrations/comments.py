"""Write-back: every remediation step as a comment on its problem, and comments from outside
(Jira) onto the problem, through the outbox like any other delivery.

Steps of problems the monitor knows are written with `MonitorService.add_comment`; problems
that only a Dynatrace tenant knows are left to the Dynatrace plugin (which writes to the
tenant). Each event is handled once: the bus group is durable and the delivery dedup key is
the event's identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from selfheal.core import CloudEvent, NotFound, SelfhealError
from selfheal.delivery import Attempt, Outbox
from selfheal.integrations import messages as m

INTEGRATION = "problem-comments"
WRITTEN = (*m.STEPS, m.SEQUENCE_FINISHED, m.ESCALATION)
KNOWN_MAX = 10_000
"""Problems remembered as known (or, per sequence, unknown) to the monitor; the oldest is
forgotten first."""


def _remember(seen: dict[Any, None], key: Any) -> None:
    if len(seen) >= KNOWN_MAX:
        del seen[next(iter(seen))]
    seen[key] = None


class ProblemNotes(Protocol):
    """The two monitor calls write-back needs."""

    async def get_problem(self, problem_id: str) -> Any: ...

    async def add_comment(
        self, problem_id: str, message: str, *, context: str = ..., author: str = ...
    ) -> Any: ...


class LocalCommentSender:
    """A non-HTTP sender: the monitor's service is the target (errors classified like HTTP)."""

    def __init__(self, monitor: ProblemNotes) -> None:
        self._monitor = monitor

    async def attempt(self, args: Mapping[str, Any]) -> Attempt:
        target = f"monitor problem {args['problem']}"
        try:
            await self._monitor.add_comment(
                args["problem"], args["message"], context=args["context"], author=args["author"]
            )
        except NotFound as exc:
            return Attempt(False, target, error=exc.message, retry=False)
        except SelfhealError as exc:
            return Attempt(False, target, error=exc.message)
        return Attempt(True, target)

    async def settled(self, args: Mapping[str, Any]) -> bool:
        return False  # the monitor keeps no id of ours: a resumed comment is written again


class ProblemComments:
    def __init__(
        self,
        monitor: ProblemNotes | None,
        outbox: Outbox,
        *,
        ui_url: str,
    ) -> None:
        self._monitor = monitor
        self._outbox = outbox
        self._ui_url = ui_url
        self._known_problems: dict[tuple[str, str], None] = {}  # oldest first
        self._unknown_problems: dict[tuple[str, str, str], None] = {}  # (context, *problem)
        if monitor is not None:
            outbox.register(INTEGRATION, "comment", LocalCommentSender(monitor))

    async def _known(self, problem: m.ProblemRef, context: str | None = None) -> bool:
        """Whether the monitor knows the problem. A problem it knew stays known, and one it
        did not know at a sequence's first step stays unknown for that sequence's later
        steps (the monitor stores its problems before it notifies): so the steps of one
        sequence read `monitor_problems` once, not once or twice per step. Should a known
        problem be deleted meanwhile, the comment's delivery finds out and gives up."""
        if self._monitor is None:
            return False
        ref = (problem.key, problem.display_id)
        if ref in self._known_problems:
            return True
        if context and (context, *ref) in self._unknown_problems:
            return False
        for key in dict.fromkeys(ref):
            try:
                await self._monitor.get_problem(key)
            except NotFound:
                continue
            _remember(self._known_problems, ref)
            return True
        if context:
            _remember(self._unknown_problems, (context, *ref))
        return False

    async def handle(self, event: CloudEvent) -> None:
        """Bus handler for `sh.keptn.>` (steps) and the integrations' comment events."""
        if event.type == "sh.selfheal.integrations.comment":
            data = event.payload()
            problem = m.ProblemRef(
                key=str(data.get("problem", "")), display_id=str(data.get("problem", ""))
            )
            await self._write(
                problem,
                str(data.get("message", "")),
                event,
                context=str(data.get("context") or "integration"),
                author=str(data.get("author") or "integration"),
            )
            return
        n = m.notification_of(event, ui_url=self._ui_url)
        if n is None or n.kind not in WRITTEN or n.problem is None:
            return
        await self._write(n.problem, n.message, event, context="selfheal", author=event.source)

    async def _write(
        self, problem: m.ProblemRef, message: str, event: CloudEvent, *, context: str, author: str
    ) -> None:
        if not message.strip() or not problem.key:
            return
        if not await self._known(problem, event.shkeptncontext):
            return  # a problem only a remote tool knows (the Dynatrace plugin writes there)
        await self._outbox.deliver(
            INTEGRATION,
            "comment",
            {"problem": problem.key, "message": message, "context": context, "author": author},
            dedup_key=f"{INTEGRATION}:{event.source}:{event.id}",
            problem=problem.key,
            keptn_context=event.shkeptncontext,
            event_type=event.type,
        )
