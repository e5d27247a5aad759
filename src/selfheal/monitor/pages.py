"""UI pages: the problems list and a problem's page (chart, evidence, comments)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from selfheal.core import iso_from_epoch
from selfheal.monitor.charts import Marker, failure_rate_svg
from selfheal.monitor.errors import ServiceNotFound

if TYPE_CHECKING:
    from selfheal.monitor.component import MonitorComponent


def pages_router(component: MonitorComponent) -> APIRouter:
    runtime = component.runtime
    svc = component.service
    ui = APIRouter(include_in_schema=False)

    @ui.get("/problems", response_class=HTMLResponse)
    async def problems_page(request: Request, status: str | None = None) -> Response:
        user = await runtime.ui_user(request)
        wanted = status if status in ("OPEN", "RESOLVED", "CLOSED") else None
        problems, total = await svc.list_problems(status=wanted, limit=200)
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
                "fmt": iso_from_epoch,
            },
        )

    @ui.get("/problems/{problem_id}", response_class=HTMLResponse)
    async def problem_page(request: Request, problem_id: str) -> Response:
        user = await runtime.ui_user(request)
        problem = await svc.get_problem(problem_id)
        comments = await svc.comments(problem.id)
        end = problem.end or runtime.clock.now()
        # "around the problem": lead and tail scale with its length, so a 5-second problem is
        # not a sliver at the edge of a 5-minute chart
        duration = max(0.0, end - problem.start)
        start = problem.start - min(300.0, max(30.0, 2 * duration))
        stop = end + min(120.0, max(15.0, duration))
        stop = min(stop, max(runtime.clock.now(), end))
        markers = [Marker(problem.start, f"{problem.display_id} opened", "open")]
        markers += [Marker(c.created, f"{c.author}: {c.message[:80]}", "comment") for c in comments]
        if problem.end:
            markers.append(
                Marker(problem.end, f"{problem.display_id} {problem.status.lower()}", "resolve")
            )
        chart = None
        try:
            step = max(1.0, (stop - start) / 200)
            series = (await svc.series(problem.service, start, stop)).steps(start, stop, step)
            pts = [
                (w.end, None if w.failure_rate is None else w.failure_rate * 100) for w in series
            ]
            chart = Markup(failure_rate_svg(pts, markers, start=start, end=stop))
        except ServiceNotFound:
            chart = None
        return runtime.templates.TemplateResponse(
            request,
            "monitor/problem.html",
            {
                "nav": "problems",
                "user": user,
                "problem": problem,
                "comments": comments,
                "chart": chart,
                "fmt": iso_from_epoch,
                "deliveries": await svc.deliveries(problem.id),
            },
        )

    @ui.post("/problems/{problem_id}/comments")
    async def comment_form(request: Request, problem_id: str, message: str = Form(...)) -> Response:
        user = await runtime.ui_user(request)
        problem = await svc.add_comment(problem_id, message, context="ui", author=user)
        return RedirectResponse(f"/problems/{problem.problem_id}", status_code=303)

    return ui
