"""UI pages: the problems list and the comment form (a problem's own page is composed by the
web layer, which sees the sequences and flag changes about it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from selfheal import flashes
from selfheal.core import InvalidInput, iso_from_epoch, pages
from selfheal.monitor.problems import Problem

if TYPE_CHECKING:
    from selfheal.monitor.component import MonitorComponent


def pages_router(component: MonitorComponent) -> APIRouter:
    runtime = component.runtime
    svc = component.service
    ui = APIRouter(include_in_schema=False)

    @ui.get("/problems", response_class=HTMLResponse)
    async def problems_page(request: Request, status: str | None = None) -> Response:
        user = await runtime.ui_user(request)
        wanted = status if status in ("OPEN", "MITIGATED", "RESOLVED", "CLOSED") else None
        if wanted == "MITIGATED":  # OPEN to Dynatrace, served by the fallback meanwhile
            problems, total = await svc.list_problems(
                status="OPEN", limit=200, where=lambda p: p.mitigated
            )
        else:
            problems, total = await svc.list_problems(status=wanted, limit=200)
        opened = problems  # the services table: each service's open problems
        if wanted not in (None, "OPEN"):
            opened, _ = await svc.list_problems(status="OPEN", limit=200)
        open_by_service: dict[str, list[Problem]] = {}
        for p in opened:
            if p.is_open:
                open_by_service.setdefault(p.service, []).append(p)
        pids = {p.pid for p in problems} | {p.pid for p in opened}
        return runtime.templates.TemplateResponse(
            request,
            "monitor/problems.html",
            {
                "nav": "problems",
                "user": user,
                "problems": problems,
                "total": total,
                "status": wanted,
                "services": svc.status(),
                "open_by_service": open_by_service,
                "restores": await runtime.problem_badges.restores_of(pids),
                "fmt": iso_from_epoch,
            },
        )

    @ui.post("/problems/{problem_id}/comments")
    async def comment_form(request: Request, problem_id: str, message: str = Form(...)) -> Response:
        user = await runtime.ui_user(request)
        back = pages.problem(problem_id) + "#comments"
        if not message.strip():  # a form error on the page, not a JSON 400
            return flashes.back(back, error="a comment needs some text")
        try:
            await svc.add_comment(problem_id, message, context="ui", author=user)
        except InvalidInput as exc:
            return flashes.back(back, error=exc)
        return flashes.back(back, note="comment added")

    return ui
