"""Local stand-ins for Jira, Slack and Dynatrace: small Starlette apps that answer like the
real APIs, record every request, and fail on demand (status, Retry-After, hangs).

The contract tests check selfheal's requests against them; the demo points its integrations
at them. The Jira stand-in also calls webhooks like Jira does (`comment_created`, for people's
comments and the bot's own, before answering the bot's POST: the worst ordering). `serve(app)` runs one on 127.0.0.1 on a free port inside the current event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class StandIn:
    """Recording and fault injection shared by every stand-in."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._ids = count(1)

    def fail(
        self,
        times: int = 1,
        *,
        status: int = 500,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.faults.extend(Fault(status, headers, delay) for _ in range(times))

    def next_id(self) -> int:
        return next(self._ids)

    async def record(self, request: Request) -> tuple[Recorded, Response | None]:
        body = await request.body()
        rec = Recorded(
            request.method, request.url.path, request.url.query, dict(request.headers), body
        )
        self.requests.append(rec)
        if self.faults:
            fault = self.faults.pop(0)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            return rec, JSONResponse(
                {"error": "injected fault"}, fault.status, headers=fault.headers
            )
        return rec, None

    def to(self, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if path_part in r.path]


@dataclass(frozen=True, slots=True)
class Hook:
    url: str
    hmac_secret: str | None = None


class JiraStandIn(StandIn):
    """Jira Cloud v3 and Server v2 issue, comment, search and transition routes."""

    TRANSITIONS = (
        {"id": "11", "name": "To Do"},
        {"id": "21", "name": "In Progress"},
        {"id": "31", "name": "Done", "to": {"name": "Done"}},
    )

    def __init__(self, project: str = "OPS") -> None:
        super().__init__()
        self.project = project
        self.issues: dict[str, dict[str, Any]] = {}
        self.hooks: list[Hook] = []
        self.hook_answers: list[int] = []
        base = "/rest/api/{v:int}"
        self.app = Starlette(
            routes=[
                Route(f"{base}/issue", self._create, methods=["POST"]),
                Route(f"{base}/search", self._search, methods=["GET"]),
                Route(f"{base}/search/jql", self._search, methods=["GET"]),
                Route(f"{base}/issue/{{key}}", self._issue, methods=["GET"]),
                Route(f"{base}/issue/{{key}}/comment", self._comment, methods=["GET", "POST"]),
                Route(
                    f"{base}/issue/{{key}}/transitions", self._transitions, methods=["GET", "POST"]
                ),
            ]
        )

    def human_comment(self, key: str, text: str, author: str = "Jane Operator") -> None:
        cid = str(10000 + self.next_id())
        self.issues[key]["comments"].append(
            {
                "id": cid,
                "author": {"displayName": author, "accountId": "human"},
                "body": text,
                "created": "2026-01-01T00:00:00.000+0000",
            }
        )

    def subscribe(self, url: str, *, hmac_secret: str | None = None) -> None:
        """Register a webhook (`?secret=` goes in the URL; `hmac_secret` signs the body)."""
        self.hooks.append(Hook(url, hmac_secret))

    async def comment_as_human(
        self, key: str, text: str, author: str = "Jane Operator"
    ) -> dict[str, Any]:
        """A person comments in Jira's UI: stored, then announced to the webhooks."""
        self.human_comment(key, text, author)
        comment: dict[str, Any] = self.issues[key]["comments"][-1]
        await self._announce(key, comment)
        return comment

    async def _announce(self, key: str, comment: dict[str, Any]) -> None:
        issue = self.issues[key]
        payload = {
            "timestamp": 1767225600000,
            "webhookEvent": "comment_created",
            "comment": comment,
            "issue": {"id": issue["id"], "key": key, "fields": issue["fields"]},
        }
        body = json.dumps(payload).encode()
        async with httpx.AsyncClient() as client:
            for hook in self.hooks:
                headers = {"Content-Type": "application/json"}
                if hook.hmac_secret is not None:
                    digest = hmac.new(hook.hmac_secret.encode(), body, hashlib.sha256)
                    headers["X-Hub-Signature"] = "sha256=" + digest.hexdigest()
                answer = await client.post(hook.url, content=body, headers=headers)
                self.hook_answers.append(answer.status_code)

    async def _guard(self, request: Request) -> tuple[Recorded, Response | None]:
        rec, fault = await self.record(request)
        if fault is None and not request.headers.get("authorization"):
            fault = JSONResponse({"errorMessages": ["You are not authenticated."]}, 401)
        return rec, fault

    async def _create(self, request: Request) -> Response:
        rec, fault = await self._guard(request)
        if fault:
            return fault
        fields = (rec.json() or {}).get("fields") or {}
        v3 = request.path_params["v"] == 3
        description = fields.get("description")
        errors = {}
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "project is required"
        if (
            v3
            and description is not None
            and not (isinstance(description, dict) and description.get("type") == "doc")
        ):
            errors["description"] = "Operation value must be an Atlassian Document"
        if not v3 and description is not None and not isinstance(description, str):
            errors["description"] = "Operation value must be a string"
        if any(" " in label for label in fields.get("labels", [])):
            errors["labels"] = "labels cannot contain spaces"
        if errors:
            return JSONResponse({"errorMessages": [], "errors": errors}, 400)
        n = self.next_id()
        key = f"{self.project}-{n}"
        self.issues[key] = {
            "id": str(n),
            "key": key,
            "fields": fields,
            "comments": [],
            "status": "To Do",
        }
        return JSONResponse(
            {"id": str(n), "key": key, "self": f"{request.base_url}rest/api/3/issue/{n}"}, 201
        )

    async def _search(self, request: Request) -> Response:
        _rec, fault = await self._guard(request)
        if fault:
            return fault
        jql = request.query_params.get("jql", "")
        labels = re.findall(r'labels\s*=\s*"([^"]+)"', jql)
        found = [
            {"id": i["id"], "key": k}
            for k, i in self.issues.items()
            if all(lb in i["fields"].get("labels", []) for lb in labels)
        ]
        return JSONResponse({"issues": found[:1] if labels else found, "isLast": True})

    async def _issue(self, request: Request) -> Response:
        _rec, fault = await self._guard(request)
        issue = self.issues.get(request.path_params["key"])
        if fault or issue is None:
            return fault or JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
        return JSONResponse(
            {
                "id": issue["id"],
                "key": issue["key"],
                "fields": {**issue["fields"], "status": {"name": issue["status"]}},
            }
        )

    async def _comment(self, request: Request) -> Response:
        rec, fault = await self._guard(request)
        issue = self.issues.get(request.path_params["key"])
        if fault or issue is None:
            return fault or JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
        if request.method == "GET":
            comments = issue["comments"]
            return JSONResponse(
                {"comments": comments, "startAt": 0, "maxResults": 100, "total": len(comments)}
            )
        body = (rec.json() or {}).get("body")
        v3 = request.path_params["v"] == 3
        if (v3 and not (isinstance(body, dict) and body.get("type") == "doc")) or (
            not v3 and not isinstance(body, str)
        ):
            return JSONResponse({"errorMessages": ["Comment body is not valid"]}, 400)
        comment = {
            "id": str(10000 + self.next_id()),
            "author": {"displayName": "selfheal bot", "accountId": "bot"},
            "body": body,
            "created": "2026-01-01T00:00:00.000+0000",
        }
        issue["comments"].append(comment)
        await self._announce(request.path_params["key"], comment)
        return JSONResponse(comment, 201)

    async def _transitions(self, request: Request) -> Response:
        rec, fault = await self._guard(request)
        issue = self.issues.get(request.path_params["key"])
        if fault or issue is None:
            return fault or JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
        if request.method == "GET":
            return JSONResponse({"transitions": list(self.TRANSITIONS)})
        tid = ((rec.json() or {}).get("transition") or {}).get("id")
        match = next((t for t in self.TRANSITIONS if t["id"] == tid), None)
        if match is None:
            return JSONResponse({"errorMessages": ["Transition id is not valid"]}, 400)
        issue["status"] = match["name"]
        return Response(status_code=204)


class SlackStandIn(StandIn):
    """`chat.postMessage` (bot token) and incoming webhooks (`/services/T/B/secret`)."""

    def __init__(self, token: str = "xoxb-test") -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post, methods=["POST"]),
                Route("/services/{team}/{bot}/{secret}", self._hook, methods=["POST"]),
            ]
        )

    async def _post(self, request: Request) -> Response:
        rec, fault = await self.record(request)
        if fault:
            return fault
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        body = rec.json() or {}
        if not body.get("channel"):
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return JSONResponse({"ok": False, "error": "no_text"})
        ts = f"1700000000.{self.next_id():06d}"
        message = {**body, "ts": ts}
        self.messages.append(message)
        return JSONResponse({"ok": True, "channel": "C0SELFHEAL", "ts": ts, "message": message})

    async def _hook(self, request: Request) -> Response:
        rec, fault = await self.record(request)
        if fault:
            return fault
        try:
            body = rec.json()
        except ValueError:
            return PlainTextResponse("invalid_payload", 400)
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return PlainTextResponse("no_text", 400)
        self.messages.append(body)
        return PlainTextResponse("ok")


class DynatraceStandIn(StandIn):
    """Problem comments, v2 (`/api/v2/problems/{id}/comments`) and v1 (`/api/v1/problem/details/{pid}/comments`)."""

    def __init__(self, token: str = "dt0c01.test", *, v2: bool = True) -> None:
        super().__init__()
        self.token = token
        self.v2 = v2
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.app = Starlette(
            routes=[
                Route("/api/v2/problems/{pid}/comments", self._v2, methods=["GET", "POST"]),
                Route("/api/v1/problem/details/{pid}/comments", self._v1, methods=["POST"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Api-Token {self.token}"

    async def _v2(self, request: Request) -> Response:
        rec, fault = await self.record(request)
        if fault:
            return fault
        if not self.v2:
            return JSONResponse({"error": {"code": 404, "message": "not found"}}, 404)
        if not self._authorized(request):
            return JSONResponse({"error": {"code": 401, "message": "Missing authorization"}}, 401)
        pid = request.path_params["pid"]
        if request.method == "GET":
            return JSONResponse(
                {
                    "comments": self.comments.get(pid, []),
                    "totalCount": len(self.comments.get(pid, [])),
                }
            )
        body = rec.json() or {}
        if not isinstance(body.get("message"), str) or not body["message"]:
            return JSONResponse(
                {"error": {"code": 400, "message": "message must not be empty"}}, 400
            )
        comment = {
            "id": str(self.next_id()),
            "content": body["message"],
            "context": body.get("context"),
            "authorName": "api-token",
        }
        self.comments.setdefault(pid, []).append(comment)
        return JSONResponse({"id": comment["id"], "createdAtTimestamp": 1700000000000}, 201)

    async def _v1(self, request: Request) -> Response:
        rec, fault = await self.record(request)
        if fault:
            return fault
        if not self._authorized(request):
            return JSONResponse({"error": {"code": 401, "message": "Missing authorization"}}, 401)
        body = rec.json() or {}
        if not isinstance(body.get("comment"), str):
            return JSONResponse({"error": {"code": 400, "message": "comment is required"}}, 400)
        comment = {
            "id": str(self.next_id()),
            "content": body["comment"],
            "context": body.get("context"),
            "authorName": body.get("user"),
        }
        self.comments.setdefault(request.path_params["pid"], []).append(comment)
        return JSONResponse({**comment, "createdAtTimestamp": 1700000000000})


class SinkStandIn(StandIn):
    """Anything, answered with 200 `{}`: generic webhooks and Keptn webhook actions."""

    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(
            routes=[
                Route("/{path:path}", self._any, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
            ]
        )

    async def _any(self, request: Request) -> Response:
        _rec, fault = await self.record(request)
        return fault or JSONResponse({})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 in this event loop; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError(f"stand-in did not start on port {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
