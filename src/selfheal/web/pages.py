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
from selfheal.web.incidents import Incident, Incidents, evidence_words, ordinal

MARKER_OF = {"action": "action", "flag": "flag", "comment": "comment"}


def window(incident: Incident, now: float) -> tuple[float, float]:
    """The chart's time range: every occurrence of the problem (a reopened problem keeps its
    first incident in view), with some time before the first and after the last."""
    problem = incident.problem
    opened = [o.opened for o in incident.occurrences] + [problem.start]
    ended = [o.resolved for o in incident.occurrences if o.resolved is not None]
    still_open = problem.is_open or problem.end is None
    first = min(opened)
    last = now if still_open else max([*ended, problem.end or problem.start])
    duration = max(0.0, last - first)
    start = first - min(300.0, max(30.0, 2 * duration))
    stop = min(last + min(120.0, max(15.0, duration)), max(now, last))
    return start, stop


def markers(incident: Incident) -> list[Marker]:
    """Opened and resolved for each occurrence, then each action, flag change and comment."""
    problem = incident.problem
    name = problem.display_id
    out: list[Marker] = []
    for o in incident.occurrences:
        label = f"{name} opened" if o.occurrence == 1 else f"{name} reopened ({ordinal(o)})"
        out.append(Marker(o.opened, label, "open"))
        if o.resolved is not None:
            out.append(Marker(o.resolved, f"{name} resolved ({ordinal(o)})", "resolve"))
    if not incident.occurrences:  # no remediation ran: the problem's own times
        out.append(Marker(problem.start, f"{name} opened", "open"))
        if problem.end:
            out.append(Marker(problem.end, f"{name} {problem.status.lower()}", "resolve"))
    out += [
        Marker(e.time, e.text[:80], MARKER_OF[e.kind])
        for e in incident.entries
        if e.kind in MARKER_OF
    ]
    return out


async def chart(monitor: MonitorService, incident: Incident, now: float) -> Markup | None:
    """The failure rate around the problem, with a marker per opened/action/flag/resolved."""
    problem = incident.problem
    start, stop = window(incident, now)
    try:
        # the stored samples where this replica's own series does not reach back that far
        series = await monitor.series(problem.service, start, stop)
    except ServiceNotFound:
        return None
    step = max(1.0, (stop - start) / 200)
    pts = [
        (w.end, None if w.failure_rate is None else w.failure_rate * 100)
        for w in series.steps(start, stop, step)
    ]
    bars = [
        e["threshold_pct"]
        for e in problem.evidence
        if isinstance(e.get("threshold_pct"), int | float)
    ]
    threshold = float(bars[0]) if bars else None
    svg = failure_rate_svg(pts, markers(incident), start=start, end=stop, threshold=threshold)
    return Markup(svg)


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
                "chart": await chart(monitor, incident, runtime.clock.now()),
                "fmt": iso_from_epoch,
                "evidence_words": evidence_words,
                "hooks": await monitor.deliveries(incident.problem.id),
                "restores": await incidents.restores_for(incident.problem),
            },
        )

    return ui
