"""The bridge: sequences per project, a sequence's timeline, and its control buttons."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from selfheal.control.chart import sequence_svg, task_spans
from selfheal.control.http import sequence_json
from selfheal.control.sequences import Sequence, problem_ids
from selfheal.control.service import ControlService
from selfheal.core import epoch_from_iso, pages
from selfheal.runtime import ProblemBadge
from selfheal.storage import EventQuery


def row(seq: Sequence) -> dict[str, Any]:
    """A sequence as the bridge shows it: the API's shape plus its problem's ids."""
    pid, display = problem_ids(seq.data)
    return {**sequence_json(seq), "problemId": pid or display, "problemDisplayId": display}


def flags_switched(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The flags a finished toggle action switched (its result names them), for links."""
    raw = payload.get("action")
    action: dict[str, Any] = raw if isinstance(raw, dict) else {}
    raw_result = action.get("result")
    result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
    flags = result.get("flags")
    if not isinstance(flags, dict):
        return []
    project = str(result.get("project") or "default")
    environment = str(result.get("environment") or "")
    return [
        {"name": str(name), "project": project, "environment": environment, "enabled": on}
        for name, on in flags.items()
    ]


def router(service: ControlService) -> APIRouter:
    ui = APIRouter(tags=["bridge"], include_in_schema=False)
    runtime = service.runtime

    async def badges_of(rows: list[dict[str, Any]]) -> dict[str, ProblemBadge]:
        """Each row's problem: OPEN, MITIGATED or RESOLVED, and its restore (the monitor's
        and the control plane's, through the web layer)."""
        return await runtime.problem_badges.problems({r["problemId"] for r in rows} - {None, ""})

    def render(request: Request, name: str, user: str, **context: Any) -> Response:
        return runtime.templates.TemplateResponse(
            request, name, {"nav": "bridge", "user": user, **context}
        )

    @ui.get("/bridge")
    async def index(request: Request, problem: str = "") -> Response:
        user = await runtime.ui_user(request)
        projects = await service.list_projects()
        only = (problem,) if problem else None  # by index (see SequenceStore.list)
        open_, _ = await service.list_sequences(
            states=("started", "waiting"), problems=only, limit=200
        )
        recent, total = await service.list_sequences(problems=only, limit=200 if problem else 20)
        rows_open, rows_recent = [row(s) for s in open_], [row(s) for s in recent]
        return render(
            request,
            "bridge_index.html",
            user,
            projects=projects,
            open=rows_open,
            recent=rows_recent,
            total=total,
            problem=problem,
            badges=await badges_of(rows_open + rows_recent),
        )

    @ui.get("/bridge/project/{project}")
    async def project(request: Request, project: str) -> Response:
        user = await runtime.ui_user(request)
        found = await service.get_project(project)
        shipyard = await service.shipyard(project)
        q = request.query_params
        seqs, total = await service.list_sequences(
            project=project,
            stage=q.get("stage") or None,
            service=q.get("service") or None,
            state=q.get("state") or None,
            limit=200,
        )
        open_, _ = await service.list_sequences(
            project=project, states=("started", "waiting"), limit=500
        )
        by_service: dict[str, int] = {}
        for s in open_:
            by_service[s.service] = by_service.get(s.service, 0) + 1
        rows, rows_open = [row(s) for s in seqs], [row(s) for s in open_]
        badges = await badges_of(rows + rows_open)
        problems_by_service: dict[str, dict[str, ProblemBadge]] = {}
        for r in rows_open:  # each service's problems that a remediation still works on
            badge = badges.get(r["problemId"] or "")
            if badge is not None:
                problems_by_service.setdefault(r["service"], {})[badge.id] = badge
        return render(
            request,
            "bridge_project.html",
            user,
            project=found,
            stages=[s.name for s in shipyard.stages],
            sequences=rows,
            total=total,
            open_by_service=by_service,
            problems_by_service=problems_by_service,
            badges=badges,
            filters={k: q.get(k, "") for k in ("service", "stage", "state")},
        )

    @ui.get("/bridge/sequence/{context}")
    async def sequence(request: Request, context: str) -> Response:
        user = await runtime.ui_user(request)
        seq = await service.get_sequence(context)
        page = await service.events(
            EventQuery(keptn_context=context, page_size=1000, oldest_first=True)
        )
        timeline = [
            {
                "type": e.type,
                "source": e.source,
                "time": epoch_from_iso(e.time),
                "message": e.payload().get("message", ""),
                "flags": flags_switched(e.payload()),
                "payload": json.dumps(e.payload(), indent=2, sort_keys=True, default=str),
            }
            for e in page.events
        ]
        switched = [f for e in timeline for f in e["flags"]]
        chart = sequence_svg(task_spans(page.events), now=runtime.clock.now())
        shown = row(seq)
        return render(
            request,
            "bridge_sequence.html",
            user,
            seq=shown,
            badges=await badges_of([shown]),
            timeline=timeline,
            switched=switched,
            chart=Markup(chart),
            waiting_approval=seq.phase == "approval" and seq.state == "started",
        )

    @ui.post("/bridge/sequence/{context}/control")
    async def control(request: Request, context: str, action: str = Form(...)) -> Response:
        user = await runtime.ui_user(request, "responder")
        if action in ("approve", "reject"):
            await service.approve(context, action == "approve", by=user)
        else:
            await service.control(context, action)
        return RedirectResponse(pages.sequence(context), status_code=303)

    return ui
