"""Restores over HTTP: read them, and the people's decisions — restore now, keep the
fallback, resume automation, approve — as JSON (admin token, or a console session with the
responder role) and as the banner's form posts on the problem page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from selfheal.control.restore import RestoreMachine
from selfheal.control.restore_store import Restore
from selfheal.core import InvalidInput, pages
from selfheal.runtime import Runtime

DECISIONS = ("restore-now", "keep-fallback", "resume", "approve", "reject")


class DecisionIn(BaseModel):
    by: str | None = None


class Restores:
    """The restore machine and the runtime the handlers need (one per app)."""

    def __init__(self, machine: RestoreMachine, runtime: Runtime) -> None:
        self.machine = machine
        self.runtime = runtime

    async def responder(self, request: Request, token: str | None) -> str:
        """Who decides: an admin token's principal, else a console user (responder+)."""
        if token:
            return (await self.runtime.require_admin(token)).name
        return await self.runtime.ui_user(request, "responder")

    async def decide(self, restore_id: str, decision: str, by: str) -> Restore:
        machine = self.machine
        if decision == "restore-now":
            return await machine.restore_now(restore_id, by=by)
        if decision == "keep-fallback":
            return await machine.keep_fallback(restore_id, by=by)
        if decision == "resume":
            return await machine.resume(restore_id, by=by)
        if decision in ("approve", "reject"):
            return await machine.approve(restore_id, decision == "approve", by=by)
        raise InvalidInput(f"must be one of {', '.join(DECISIONS)}", field="decision")


Token = Annotated[str | None, Header(alias="x-token")]
Authorization = Annotated[str | None, Header()]


class RestoreRoutes(Restores):
    """The handlers, as methods of the object holding what they need."""

    async def list_restores(
        self,
        request: Request,
        x_token: Token = None,
        authorization: Authorization = None,
        problem: str | None = None,
        active: bool | None = None,
    ) -> dict[str, Any]:
        await self.responder(request, x_token or authorization)
        found = await self.machine.list(active=active, problem_id=problem)
        return {"restores": [r.to_dict() for r in found], "totalCount": len(found)}

    async def get_restore(
        self,
        request: Request,
        restore_id: str,
        x_token: Token = None,
        authorization: Authorization = None,
    ) -> dict[str, Any]:
        await self.responder(request, x_token or authorization)
        return (await self.machine.get(restore_id)).to_dict()

    async def post_decision(
        self,
        request: Request,
        restore_id: str,
        decision: str,
        body: DecisionIn | None = None,
        x_token: Token = None,
        authorization: Authorization = None,
    ) -> dict[str, Any]:
        who = await self.responder(request, x_token or authorization)
        by = (body.by if body is not None and body.by else None) or who
        return (await self.decide(restore_id, decision, by)).to_dict()

    async def banner_decision(
        self, request: Request, restore_id: str, decision: str = Form(...)
    ) -> Response:
        """The banner's buttons on the problem page (a console session, responder role)."""
        user = await self.runtime.ui_user(request, "responder")
        restore = await self.decide(restore_id, decision, user)
        return RedirectResponse(pages.problem(restore.problem_id), status_code=303)


def router(machine: RestoreMachine, runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["restore"])
    routes = RestoreRoutes(machine, runtime)
    api.add_api_route("/api/v1/restores", routes.list_restores, methods=["GET"])
    api.add_api_route("/api/v1/restores/{restore_id}", routes.get_restore, methods=["GET"])
    api.add_api_route(
        "/api/v1/restores/{restore_id}/{decision}", routes.post_decision, methods=["POST"]
    )
    api.add_api_route(
        "/ui/restores/{restore_id}/decision",
        routes.banner_decision,
        methods=["POST"],
        include_in_schema=False,
    )
    return api
