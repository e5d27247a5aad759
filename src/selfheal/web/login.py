"""Log in and out of the console. Logout is a POST that ends the session on the server."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from selfheal import flashes
from selfheal.core import CloudEvent
from selfheal.runtime import Runtime
from selfheal.web.sessions import COOKIE, Sessions, Throttled

LOGIN_FAILED = "sh.selfheal.ui.login.failed"


def safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/flags"
    return target


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def router(runtime: Runtime, sessions: Sessions) -> APIRouter:
    ui = APIRouter(include_in_schema=False)
    secure = urlsplit(runtime.public_url).scheme == "https"

    @ui.get("/")
    async def home() -> Response:
        return RedirectResponse("/problems", status_code=303)

    @ui.get("/login")
    async def login_form(request: Request, next: str = "/flags") -> HTMLResponse:
        return runtime.templates.TemplateResponse(
            request, "login.html", {"next": safe_next(next), "user": None}
        )

    @ui.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        target = safe_next(str(form.get("next") or ""))
        name = str(form.get("username") or "")
        address = client_address(request)
        again = f"/login?next={quote(target, safe='')}"
        try:
            cookie = await sessions.login(name, str(form.get("password") or ""), address)
        except Throttled as exc:
            await _audit(runtime, name, address, "throttled")
            return flashes.back(again, error=exc)
        if cookie is None:
            await _audit(runtime, name, address, "wrong user name or password")
            return flashes.back(again, error="wrong user name or password")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=secure,
            max_age=int(sessions.ttl),
        )
        return response

    @ui.post("/logout")
    async def logout(request: Request) -> Response:
        await sessions.logout(request.cookies.get(COOKIE))
        response = flashes.back("/login", note="logged out")
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=secure)
        return response

    return ui


async def _audit(runtime: Runtime, name: str, address: str, reason: str) -> None:
    """A failed login in the event store (the audit trail every replica shares)."""
    await runtime.events.publish(
        CloudEvent(
            type=LOGIN_FAILED,
            source="selfheal/web",
            data={"user": name[:100], "address": address, "reason": reason},
        )
    )
