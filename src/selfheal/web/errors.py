"""The one place where our exceptions become HTTP status codes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

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


def install(app: FastAPI) -> None:
    async def on_ours(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SelfhealError)
        if isinstance(exc, LoginRequired):  # a UI page: to the login, and back after it
            return RedirectResponse(f"/login?next={quote(exc.target, safe='')}", status_code=303)
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 503:
            headers = {"Retry-After": "1"}
        return JSONResponse(error_body(exc), status_code=status, headers=headers)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field_path(first.get("loc", ()))
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

    app.add_exception_handler(SelfhealError, on_ours)
    app.add_exception_handler(RequestValidationError, on_validation)
