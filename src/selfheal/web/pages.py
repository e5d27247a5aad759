"""UI pages that need more than one context: the incident (a problem's page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from selfheal.core import iso_from_epoch
from selfheal.monitor.charts import Marker, failure_rate_svg
from selfheal.monitor.errors import ServiceNotFound
from selfheal.monitor.service import MonitorService
from selfheal.runtime import Runtime
from selfheal.web.incidents import Incident, Incidents, evidence_words

MARKER_OF = {"action": "action", "flag": "flag", "comment": "comment"}


def chart(monitor: MonitorService, incident: Incident, now: float) -> Markup | None:
    """The failure rate around the problem, with a marker per opened/action/flag/resolved."""
    problem = incident.problem
    end = problem.end or now
    duration = max(0.0, end - problem.start)
    start = problem.start - min(300.0, max(30.0, 2 * duration))
    stop = min(end + min(120.0, max(15.0, duration)), max(now, end))
    markers = [Marker(problem.start, f"{problem.display_id} opened", "open")]
    markers += [
        Marker(e.time, e.text[:80], MARKER_OF[e.kind])
        for e in incident.entries
        if e.kind in MARKER_OF
    ]
    if problem.end:
        markers.append(
            Marker(problem.end, f"{problem.display_id} {problem.status.lower()}", "resolve")
        )
    try:
        watcher = monitor.watcher(problem.service)
    except ServiceNotFound:
        return None
    step = max(1.0, (stop - start) / 200)
    series = watcher.series.steps(start, stop, step)
    pts = [(w.end, None if w.failure_rate is None else w.failure_rate * 100) for w in series]
    bars = [
        e["threshold_pct"]
        for e in problem.evidence
        if isinstance(e.get("threshold_pct"), int | float)
    ]
    threshold = float(bars[0]) if bars else None
    return Markup(failure_rate_svg(pts, markers, start=start, end=stop, threshold=threshold))


def router(runtime: Runtime, monitor: MonitorService, incidents: Incidents) -> APIRouter:
    ui = APIRouter(include_in_schema=False)

    @ui.get("/problems/{problem_id}", response_class=HTMLResponse)
    async def problem_page(request: Request, problem_id: str) -> Response:
        user = await runtime.ui_user(request)
        incident = await incidents.get(problem_id)
        return runtime.templates.TemplateResponse(
            request,
            "incident.html",
            {
                "nav": "problems",
                "user": user,
                "incident": incident,
                "problem": incident.problem,
                "chart": chart(monitor, incident, runtime.clock.now()),
                "fmt": iso_from_epoch,
                "evidence_words": evidence_words,
                "hooks": await monitor.deliveries(incident.problem.id),
                "restores": await incidents.restores_for(incident.problem),
            },
        )

    return ui
