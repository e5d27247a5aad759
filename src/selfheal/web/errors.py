"""The one place where our exceptions become HTTP status codes."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.templating import Jinja2Templates

from selfheal.core import (
    Conflict,
    Forbidden,
    InvalidInput,
    LoginRequired,
    NotFound,
    SelfhealError,
    Unauthorized,
    Unavailable,
)
from selfheal.web.headers import HEADERS

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[SelfhealError], int]] = [
    (InvalidInput, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
]


def status_for(exc: SelfhealError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: SelfhealError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status_for(exc), "message": str(exc)}
    if isinstance(exc, InvalidInput):
        if exc.field:
            body["field"] = exc.field
        if exc.line is not None:
            body["line"] = exc.line
    return body


def _field_path(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


UI_ROOTS = frozenset({"", "login", "logout", "flags", "problems", "bridge", "deliveries", "live"})
"""First path segments of the console's pages; everything else (`/api`, `/unleash/api`,
`/ofrep`, `/metrics` …) is an API and keeps answering JSON."""

TITLES = {
    400: "Bad request",
    401: "Log in first",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    503: "Unavailable, try again shortly",
}


def is_page(request: Request) -> bool:
    return request.url.path.split("/", 2)[1] in UI_ROOTS


def install(app: FastAPI, templates: Jinja2Templates) -> None:
    def page(request: Request, status: int, message: str) -> Response:
        """An error as a page in the layout (UI paths only). It carries the console's
        security headers itself: a 500 is answered outside the app's middleware."""
        response = templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": status,
                "title": TITLES.get(status, "Something went wrong"),
                "message": message,
                "user": None,
            },
            status_code=status,
        )
        for name, value in HEADERS:
            response.headers[name.decode()] = value.decode()
        return response

    async def on_ours(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SelfhealError)
        if isinstance(exc, LoginRequired):  # a UI page: to the login, and back after it
            return RedirectResponse(f"/login?next={quote(exc.target, safe='')}", status_code=303)
        status = status_for(exc)
        if is_page(request):
            return page(request, status, str(exc))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 503:
            headers = {"Retry-After": "1"}
        return JSONResponse(error_body(exc), status_code=status, headers=headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field_path(first.get("loc", ()))
        if is_page(request):
            return page(request, 400, f"{field}: {first.get('msg')}")
        details = [
            {"field": _field_path(e.get("loc", ())), "message": str(e.get("msg"))} for e in errors
        ]
        return JSONResponse(
            {
                "code": 400,
                "message": f"field '{field}': {first.get('msg')}",
                "field": field,
                "details": details,
            },
            status_code=400,
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        """Starlette's own: no route (404), wrong method (405)."""
        assert isinstance(exc, StarletteHTTPException)
        if is_page(request):
            words = "There is no page at this address." if exc.status_code == 404 else exc.detail
            return page(request, exc.status_code, str(words))
        return await http_exception_handler(request, exc)

    async def on_bug(request: Request, exc: Exception) -> Response:
        """Anything else is our bug: logged with its traceback, never shown."""
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        if is_page(request):
            return page(request, 500, "The server failed on this page; the error is logged.")
        return JSONResponse({"code": 500, "message": "internal server error"}, status_code=500)

    app.add_exception_handler(SelfhealError, on_ours)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_bug)
