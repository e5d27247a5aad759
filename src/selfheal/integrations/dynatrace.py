"""Dynatrace write-back: each remediation step as a comment on the Dynatrace problem.

For problems that came from this tenant (the problem URL points at it), every step goes to
`POST /api/v2/problems/{problemId}/comments` with `Authorization: Api-Token …`; when the
tenant does not know v2 (404/405/410) the step is posted to the v1 route
`POST /api/v1/problem/details/{PID}/comments` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict

from selfheal.integrations import messages as m
from selfheal.integrations.plugins import PluginContext
from selfheal.integrations.references import SecretRef
from selfheal.integrations.transport import HttpRequest

_WRITTEN = (*m.STEPS, m.SEQUENCE_FINISHED, m.ESCALATION)
_NO_V2 = (404, 405, 410)


class DynatraceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    token: SecretRef
    api: Literal["auto", "v2", "v1"] = "auto"
    context: str = "selfheal"
    user: str = "selfheal"
    claim_all: bool = False  # write back for every problem, not only those of this tenant


def host_of(url: str | None) -> str:
    try:
        return (urlsplit(url or "").netloc or "").lower()
    except ValueError:
        return ""


class DynatracePlugin:
    type = "dynatrace"

    def __init__(self, name: str, config: DynatraceConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._base = config.url.rstrip("/")
        ctx.http.register("comment.v2", self._build_v2)
        ctx.http.register("comment.v1", self._build_v1)

    def owns(self, problem: m.ProblemRef | None) -> bool:
        """True if the problem came from this tenant (its URL points here)."""
        if problem is None:
            return False
        return self.config.claim_all or (
            bool(problem.url) and host_of(problem.url) == host_of(self._base)
        )

    def _headers(self) -> dict[str, str]:
        token = self.ctx.secrets.get(self.config.token.secret).get_secret_value()
        return {"Authorization": f"Api-Token {token}", "Content-Type": "application/json"}

    async def _build_v2(self, args: Mapping[str, Any]) -> HttpRequest:
        url = f"{self._base}/api/v2/problems/{quote(args['pid'], safe='')}/comments"
        body = {"message": args["message"], "context": self.config.context}
        return HttpRequest("POST", url, self._headers(), json=body)

    async def _build_v1(self, args: Mapping[str, Any]) -> HttpRequest:
        url = f"{self._base}/api/v1/problem/details/{quote(args['pid'], safe='')}/comments"
        body = {
            "comment": args["message"],
            "user": self.config.user,
            "context": self.config.context,
        }
        return HttpRequest("POST", url, self._headers(), json=body)

    async def comment(
        self,
        problem: m.ProblemRef,
        message: str,
        *,
        dedup: str,
        keptn_context: str | None,
        event_type: str | None,
    ) -> None:
        meta = {"problem": problem.key, "keptn_context": keptn_context, "event_type": event_type}
        args = {"pid": problem.key, "message": message}
        if self.config.api == "v1":
            await self.ctx.http.deliver("comment.v1", args, dedup_key=f"{dedup}:v1", **meta)
            return
        done = await self.ctx.http.deliver("comment.v2", args, dedup_key=f"{dedup}:v2", **meta)
        if self.config.api == "auto" and done.status == "dead" and done.http_status in _NO_V2:
            await self.ctx.http.deliver("comment.v1", args, dedup_key=f"{dedup}:v1", **meta)

    async def notify(self, n: m.Notification) -> None:
        if n.kind not in _WRITTEN or not self.owns(n.problem):
            return
        assert n.problem is not None
        await self.comment(
            n.problem,
            n.message,
            dedup=f"{self.name}:{n.event.source}:{n.event.id}",
            keptn_context=n.keptn_context,
            event_type=n.event.type,
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def create(name: str, config: Mapping[str, Any], ctx: PluginContext) -> DynatracePlugin:
    return DynatracePlugin(name, DynatraceConfig.model_validate(config), ctx)
