"""The monitor's HTTP API: Dynatrace-shaped problems and comments, services, metrics, intake.

Every route needs an admin API token (`Authorization: <token>`, `Bearer <token>` or
Dynatrace's `Api-Token <token>`). Bodies are parsed here so that a malformed one becomes a
400 naming the field, before anything is stored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from selfheal.core import InvalidInput, iso_from_epoch
from selfheal.monitor.declarations import load_services
from selfheal.monitor.dynatrace import (
    OPTIONAL_FIELDS,
    comment_json,
    dynatrace_status,
    parse_fields,
    parse_selector,
    problem_json,
    statuses_for,
)
from selfheal.monitor.intake import parse_alertmanager, parse_dynatrace
from selfheal.monitor.problems import Delivery

if TYPE_CHECKING:
    from selfheal.monitor.component import MonitorComponent


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


def _since(value: str | None, now: float) -> float | None:
    """Dynatrace's `from`: epoch milliseconds, or relative like `now-2h` (s, m, h, d)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text) / 1000
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text.startswith("now-") and text[-1:] in units and text[4:-1].isdigit():
        return now - int(text[4:-1]) * units[text[-1]]
    raise InvalidInput("epoch milliseconds or now-<n>s|m|h|d", field="from")


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
        fields: str | None = Query(None),
        since: str | None = Query(None, alias="from"),
        service: str | None = Query(None),
        status: str | None = Query(None),
        state: str | None = Query(None),
    ) -> dict[str, Any]:
        """Dynatrace's list (`problemSelector`, `fields`, `from`, paging) plus our filters:
        `status` (OPEN | CLOSED as in the answer, or RESOLVED), `state` (exactly one of
        ours) and `service`. Unlike Dynatrace, no `from` means all time."""
        await admin(authorization)
        try:
            offset = int(nextPageKey) if nextPageKey else 0
        except ValueError:
            raise InvalidInput("must come from a previous page", field="nextPageKey") from None
        selector = parse_selector(problemSelector)
        statuses = statuses_for(status) if status else selector.statuses
        if state is not None and state.upper() not in ("OPEN", "RESOLVED", "CLOSED"):
            raise InvalidInput("must be OPEN, RESOLVED or CLOSED", field="state")
        wanted = parse_fields(fields, ("evidenceDetails",))
        problems, total = await svc.list_problems(
            status=state.upper() if state else None,
            statuses=statuses,
            service=service,
            since=_since(since, runtime.clock.now()),
            limit=pageSize,
            offset=offset,
            where=selector.matches if selector.needs_scan else None,
        )
        out = []
        for p in problems:
            comments = await svc.comments(p.id) if "recentComments" in wanted else None
            out.append(problem_json(p, runtime.public_url, comments=comments, fields=wanted))
        nxt = offset + len(problems)
        return {
            "totalCount": total,
            "pageSize": pageSize,
            "nextPageKey": str(nxt) if nxt < total else None,
            "problems": out,
        }

    @api.get("/api/v2/problems/{problem_id}")
    async def get_problem(
        problem_id: str, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        """Every optional part included (evidence, impact analysis, recent comments)."""
        await admin(authorization)
        problem = await svc.get_problem(problem_id)
        comments = await svc.comments(problem.id)
        return problem_json(problem, runtime.public_url, comments=comments, fields=OPTIONAL_FIELDS)

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
        out: dict[str, Any] = {
            "problemId": problem.id,
            "closing": True,
            "status": dynatrace_status(problem),
            "state": problem.status,
        }
        if message:
            closing = [c for c in await svc.comments(problem.id) if c.context == "close"]
            if closing:
                out["comment"] = comment_json(closing[-1])
        return out

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
        message, context = _comment_body(await _json(request))
        return comment_json(
            await svc.add_comment(problem_id, message, context=context or "selfheal", author=user)
        )

    @api.get("/api/v2/problems/{problem_id}/comments/{comment_id}")
    async def get_comment(
        problem_id: str, comment_id: str, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        await admin(authorization)
        return comment_json(await svc.get_comment(problem_id, comment_id))

    @api.put("/api/v2/problems/{problem_id}/comments/{comment_id}", status_code=204)
    async def update_comment(
        problem_id: str, comment_id: str, request: Request, authorization: str | None = Header(None)
    ) -> Response:
        await admin(authorization)
        message, context = _comment_body(await _json(request))
        await svc.update_comment(problem_id, comment_id, message, context=context or None)
        return Response(status_code=204)

    @api.delete("/api/v2/problems/{problem_id}/comments/{comment_id}", status_code=204)
    async def delete_comment(
        problem_id: str, comment_id: str, authorization: str | None = Header(None)
    ) -> Response:
        await admin(authorization)
        await svc.delete_comment(problem_id, comment_id)
        return Response(status_code=204)

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

    @api.put("/api/v1/monitor/services")
    @api.post("/api/v1/monitor/services")
    async def apply_services(
        request: Request, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        """A monitor.yaml document (YAML or JSON) or one service object."""
        await admin(authorization)
        text = (await request.body()).decode("utf-8", "replace")
        declared = load_services(text)
        revision = await component.store.save_services(
            [(spec.name, raw) for spec, raw in declared], runtime.clock.now()
        )
        await component.changed(revision)
        return {"applied": [spec.name for spec, _ in declared], "revision": revision}

    @api.delete("/api/v1/monitor/services/{name}", status_code=204)
    async def delete_service(name: str, authorization: str | None = Header(None)) -> None:
        await admin(authorization)
        svc.watcher(name)  # 404 for a service nobody declared
        revision = await component.store.delete_service(name, runtime.clock.now())
        await component.changed(revision)

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
        series = await svc.series(service, t0, t1)
        points = []
        for w in series.steps(t0, t1, resolution):
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


def _comment_body(body: Any) -> tuple[str, str]:
    """Dynatrace's comment body `{"message", "context"}`."""
    if not isinstance(body, dict):
        raise InvalidInput("must be a JSON object", field="body")
    message, context = body.get("message"), body.get("context", "")
    if not isinstance(message, str):
        raise InvalidInput("is required (a string)", field="message")
    if not isinstance(context, str):
        raise InvalidInput("must be a string", field="context")
    return message, context
