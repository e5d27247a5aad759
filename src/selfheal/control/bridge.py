"""The bridge: sequences per project, a sequence's timeline, and its control buttons."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from selfheal.control.chart import sequence_svg, task_spans
from selfheal.control.http import sequence_json
from selfheal.control.service import ControlService
from selfheal.storage import EventQuery


def router(service: ControlService) -> APIRouter:
    ui = APIRouter(tags=["bridge"], include_in_schema=False)
    runtime = service.runtime

    def render(request: Request, name: str, user: str, **context: Any) -> Response:
        return runtime.templates.TemplateResponse(
            request, name, {"nav": "bridge", "user": user, **context}
        )

    @ui.get("/bridge")
    async def index(request: Request) -> Response:
        user = await runtime.ui_user(request)
        projects = await service.list_projects()
        open_, _ = await service.list_sequences(states=("started", "waiting"), limit=200)
        recent, total = await service.list_sequences(limit=20)
        return render(
            request,
            "bridge_index.html",
            user,
            projects=projects,
            open=[sequence_json(s) for s in open_],
            recent=[sequence_json(s) for s in recent],
            total=total,
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
        return render(
            request,
            "bridge_project.html",
            user,
            project=found,
            stages=[s.name for s in shipyard.stages],
            sequences=[sequence_json(s) for s in seqs],
            total=total,
            open_by_service=by_service,
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
                "time": e.time,
                "message": e.payload().get("message", ""),
                "payload": json.dumps(e.payload(), indent=2, sort_keys=True, default=str),
            }
            for e in page.events
        ]
        chart = sequence_svg(task_spans(page.events), now=runtime.clock.now())
        return render(
            request,
            "bridge_sequence.html",
            user,
            seq=sequence_json(seq),
            timeline=timeline,
            chart=Markup(chart),
            waiting_approval=seq.phase == "approval" and seq.state == "started",
        )

    @ui.post("/bridge/sequence/{context}/control")
    async def control(request: Request, context: str, action: str = Form(...)) -> Response:
        user = await runtime.ui_user(request)
        if action in ("approve", "reject"):
            await service.approve(context, action == "approve", by=user)
        else:
            await service.control(context, action)
        return RedirectResponse(f"/bridge/sequence/{quote(context)}", status_code=303)

    return ui
