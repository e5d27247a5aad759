"""The monitor's HTTP API: Dynatrace-shaped problems and comments, services, metrics, intake.

Every route needs an admin API token (`Authorization: <token>`, `Bearer <token>` or
Dynatrace's `Api-Token <token>`). Bodies are parsed here so that a malformed one becomes a
400 naming the field, before anything is stored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from selfheal.core import InvalidInput, iso_from_epoch
from selfheal.monitor.intake import parse_alertmanager, parse_dynatrace
from selfheal.monitor.problems import Comment, Delivery, Problem
from selfheal.monitor.services import parse_document

if TYPE_CHECKING:
    from selfheal.monitor.component import MonitorComponent


def problem_json(p: Problem, public_url: str) -> dict[str, Any]:
    return {
        "problemId": p.id,
        "displayId": p.display_id,
        "pid": p.pid,
        "title": p.title,
        "status": p.status,
        "severityLevel": p.severity,
        "impactLevel": "SERVICES",
        "impactedEntities": [
            {"entityId": {"id": p.service, "type": "SERVICE"}, "name": p.impacted_entity}
        ],
        "entityTags": [
            {"key": k, "value": v, "stringRepresentation": f"{k}:{v}"} for k, v in p.tags.items()
        ],
        "startTime": int(p.start * 1000),
        "endTime": int(p.end * 1000) if p.end else -1,
        "evidenceDetails": {"totalCount": len(p.evidence), "details": p.evidence},
        "source": p.source,
        "occurrence": p.occurrence,
        "url": f"{public_url}/problems/{p.id}",
    }


def comment_json(c: Comment) -> dict[str, Any]:
    return {
        "id": c.id,
        "createdAtTimestamp": int(c.created * 1000),
        "content": c.message,
        "authorName": c.author,
        "context": c.context,
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "key": d.key,
        "problemId": d.problem_id,
        "transition": d.transition,
        "url": d.url,
        "status": d.status,
        "attempts": d.attempts,
        "responseCode": d.response_code,
        "error": d.error,
        "created": iso_from_epoch(d.created),
        "updated": iso_from_epoch(d.updated),
    }


async def _json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from exc


def _status_selector(selector: str | None) -> str | None:
    """Dynatrace's `problemSelector=status("open")`; only the status part is understood."""
    if not selector:
        return None
    lowered = selector.lower().replace(" ", "")
    if 'status("open")' in lowered:
        return "OPEN"
    if 'status("closed")' in lowered:
        return "RESOLVED"
    raise InvalidInput(
        'only status("open") or status("closed") is supported', field="problemSelector"
    )


def api_router(component: MonitorComponent) -> APIRouter:
    runtime = component.runtime
    svc = component.service
    api = APIRouter(tags=["monitor"])

    async def admin(authorization: str | None) -> str:
        token = authorization
        if token and token.lower().startswith("api-token "):
            token = token.split(" ", 1)[1]
        principal = await runtime.require_admin(token)
        return principal.name

    @api.get("/api/v2/problems")
    async def list_problems(
        authorization: str | None = Header(None),
        problemSelector: str | None = Query(None),
        pageSize: int = Query(50),
        nextPageKey: str | None = Query(None),
        service: str | None = Query(None),
        status: str | None = Query(None),
    ) -> dict[str, Any]:
        await admin(authorization)
        try:
            offset = int(nextPageKey) if nextPageKey else 0
        except ValueError:
            raise InvalidInput("must come from a previous page", field="nextPageKey") from None
        wanted = status.upper() if status else _status_selector(problemSelector)
        problems, total = await svc.list_problems(
            status=wanted, service=service, limit=pageSize, offset=offset
        )
        nxt = offset + len(problems)
        return {
            "totalCount": total,
            "pageSize": pageSize,
            "nextPageKey": str(nxt) if nxt < total else None,
            "problems": [problem_json(p, runtime.public_url) for p in problems],
        }

    @api.get("/api/v2/problems/{problem_id}")
    async def get_problem(
        problem_id: str, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        await admin(authorization)
        problem = await svc.get_problem(problem_id)
        out = problem_json(problem, runtime.public_url)
        comments = await svc.comments(problem.id)
        out["recentComments"] = {
            "totalCount": len(comments),
            "comments": [comment_json(c) for c in comments],
        }
        return out

    @api.post("/api/v2/problems/{problem_id}/close")
    async def close_problem(
        problem_id: str, request: Request, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        user = await admin(authorization)
        body = await _json(request) if await request.body() else {}
        message = body.get("message") if isinstance(body, dict) else None
        if message is not None and not isinstance(message, str):
            raise InvalidInput("must be a string", field="message")
        problem = await svc.close_problem(problem_id, message=message, author=user)
        return {"problemId": problem.id, "closing": True, "status": problem.status}

    @api.get("/api/v2/problems/{problem_id}/comments")
    async def list_comments(
        problem_id: str, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        await admin(authorization)
        comments = await svc.comments(problem_id)
        return {
            "totalCount": len(comments),
            "pageSize": len(comments),
            "comments": [comment_json(c) for c in comments],
        }

    @api.post("/api/v2/problems/{problem_id}/comments", status_code=201)
    async def add_comment(
        problem_id: str, request: Request, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        user = await admin(authorization)
        body = await _json(request)
        if not isinstance(body, dict):
            raise InvalidInput("must be a JSON object", field="body")
        message, context = body.get("message"), body.get("context", "")
        if not isinstance(message, str):
            raise InvalidInput("is required (a string)", field="message")
        if not isinstance(context, str):
            raise InvalidInput("must be a string", field="context")
        return comment_json(
            await svc.add_comment(problem_id, message, context=context or "selfheal", author=user)
        )

    @api.get("/api/v1/problem/details/{pid}/comments")
    async def v1_comments(pid: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        await admin(authorization)
        comments = await svc.comments(pid)
        return {
            "comments": [
                {
                    "id": c.id,
                    "createdAtTimestamp": int(c.created * 1000),
                    "content": c.message,
                    "userName": c.author,
                    "context": c.context,
                }
                for c in comments
            ]
        }

    @api.post("/api/v1/problem/details/{pid}/comments")
    async def v1_add_comment(
        pid: str, request: Request, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        principal = await admin(authorization)
        body = await _json(request)
        if not isinstance(body, dict):
            raise InvalidInput("must be a JSON object", field="body")
        text, user, context = (
            body.get("comment"),
            body.get("user", principal),
            body.get("context", ""),
        )
        if not isinstance(text, str):
            raise InvalidInput("is required (a string)", field="comment")
        if not isinstance(user, str) or not isinstance(context, str):
            raise InvalidInput(
                "must be a string", field="user" if not isinstance(user, str) else "context"
            )
        c = await svc.add_comment(
            pid, text, context=context or "selfheal", author=user or principal
        )
        return {
            "id": c.id,
            "createdAtTimestamp": int(c.created * 1000),
            "content": c.message,
            "userName": c.author,
            "context": c.context,
        }

    @api.get("/api/v1/monitor/services")
    async def list_services(authorization: str | None = Header(None)) -> dict[str, Any]:
        await admin(authorization)
        return {"services": svc.status()}

    @api.post("/api/v1/monitor/services")
    async def apply_services(
        request: Request, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        """A monitor.yaml document (YAML or JSON) or one service object."""
        await admin(authorization)
        text = (await request.body()).decode("utf-8", "replace")
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
        if isinstance(doc, dict) and "services" not in doc and "name" in doc:
            raw_list = [doc]
        else:
            parse_document(text)
            raw_list = list((doc or {}).get("services", []))
        specs = svc.apply(raw_list)
        if hasattr(component.store, "save_service"):
            for spec, raw in zip(specs, raw_list, strict=True):
                await component.store.save_service(spec.name, raw, runtime.clock.now())
        component.sync_loops()
        return {"applied": [s.name for s in specs]}

    @api.delete("/api/v1/monitor/services/{name}", status_code=204)
    async def delete_service(name: str, authorization: str | None = Header(None)) -> None:
        await admin(authorization)
        svc.remove(name)
        if hasattr(component.store, "delete_service"):
            await component.store.delete_service(name)
        component.sync_loops()

    @api.get("/api/v2/metrics/query")
    async def metrics_query(
        service: str = Query(...),
        authorization: str | None = Header(None),
        start: float | None = Query(None, alias="from"),
        end: float | None = Query(None, alias="to"),
        resolution: float = Query(10.0),
    ) -> dict[str, Any]:
        """The SLI series of one service: one point per `resolution` seconds (epoch s)."""
        await admin(authorization)
        if not 0.1 <= resolution <= 86_400:
            raise InvalidInput("must be between 0.1 and 86400 seconds", field="resolution")
        now = runtime.clock.now()
        t1 = end if end is not None else now
        t0 = start if start is not None else t1 - 900
        if t0 >= t1:
            raise InvalidInput("must be before 'to'", field="from")
        if (t1 - t0) / resolution > 5000:
            raise InvalidInput("too many points: raise the resolution", field="resolution")
        watcher = svc.watcher(service)
        points = []
        for w in watcher.series.steps(t0, t1, resolution):
            p95 = w.quantile(0.95)
            p50 = w.quantile(0.5)
            p99 = w.quantile(0.99)
            points.append(
                {
                    "time": w.end,
                    "throughput": w.throughput,
                    "failure_rate": None if w.failure_rate is None else w.failure_rate * 100,
                    "response_time_p50": None if p50 is None else p50 * 1000,
                    "response_time_p95": None if p95 is None else p95 * 1000,
                    "response_time_p99": None if p99 is None else p99 * 1000,
                    "requests": w.requests,
                    "errors": w.errors,
                }
            )
        return {
            "service": service,
            "from": t0,
            "to": t1,
            "resolution": resolution,
            "state": watcher.status.state,
            "points": points,
        }

    @api.get("/api/v1/monitor/deliveries")
    async def deliveries(
        authorization: str | None = Header(None), problemId: str | None = Query(None)
    ) -> dict[str, Any]:
        await admin(authorization)
        return {"deliveries": [delivery_json(d) for d in await svc.deliveries(problemId)]}

    @api.post("/api/v1/alertmanager")
    async def alertmanager(
        request: Request, authorization: str | None = Header(None)
    ) -> JSONResponse:
        await admin(authorization)
        alerts = parse_alertmanager(await _json(request), runtime.clock.now())
        return JSONResponse({"results": await svc.ingest(alerts)})

    @api.post("/api/v1/dynatrace/problem")
    async def dynatrace(request: Request, authorization: str | None = Header(None)) -> JSONResponse:
        await admin(authorization)
        alert = parse_dynatrace(await _json(request), runtime.clock.now())
        return JSONResponse({"results": await svc.ingest([alert])})

    return api
