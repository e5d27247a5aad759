"""Console sessions: logout ends the session on the server, idle sessions expire, failed
logins are throttled per user and per address (counted in the database), audited and
counted in /metrics; roles keep a viewer's hands off the switches; the cookie is Secure
behind an https public URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.settings import Settings
from selfheal.storage import EventQuery
from selfheal.web import create_app
from selfheal.web.login import LOGIN_FAILED
from selfheal.web.sessions import COOKIE, FREE_FAILURES, delay_after

PASSWORD = "sessions-test-password"
ADMIN = {"Authorization": "*:*.admin-secret"}


@asynccontextmanager
async def console(
    settings: Settings, **update: Any
) -> AsyncIterator[tuple[Container, httpx.AsyncClient, ManualClock]]:
    clock = ManualClock()
    s = settings.model_copy(update={"admin_password": SecretStr(PASSWORD), **update})
    container = await build(s, bus=MemoryBus(), clock=clock)
    await container.start()
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as client:
            yield container, client, clock
    finally:
        await container.stop()


async def login(
    http: httpx.AsyncClient, user: str = "admin", password: str = PASSWORD
) -> httpx.Response:
    return await http.post(
        "/login", data={"username": user, "password": password, "next": "/flags"}
    )


async def test_logout_ends_the_session_on_the_server(settings: Settings) -> None:
    async with console(settings) as (_, http, _clock):
        assert (await login(http)).status_code == 303
        copied = http.cookies[COOKIE]
        assert (await http.get("/flags")).status_code == 200
        assert (await http.get("/logout")).status_code == 405  # a link cannot log anyone out
        r = await http.post("/logout")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        http.cookies.clear()
        http.cookies.set(COOKIE, copied)
        r = await http.get("/flags")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_idle_sessions_expire(settings: Settings) -> None:
    async with console(settings, session_idle_minutes=10.0) as (_, http, clock):
        await login(http)
        await clock.advance(9 * 60)
        assert (await http.get("/flags")).status_code == 200  # activity keeps it alive
        await clock.advance(9 * 60)
        assert (await http.get("/flags")).status_code == 200
        await clock.advance(11 * 60)
        r = await http.get("/flags")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_failed_logins_are_throttled_audited_and_counted(settings: Settings) -> None:
    async with console(settings) as (container, http, clock):
        for _ in range(FREE_FAILURES):
            r = await login(http, password="wrong")
            assert r.status_code == 303 and COOKIE not in http.cookies
        # even the right password waits now
        r = await login(http)
        assert COOKIE not in http.cookies
        page = await http.get(r.headers["location"])
        assert "too many failed logins" in page.text
        # an unknown user from the same address is throttled too (per address)
        r = await login(http, user="nobody", password="x")
        assert COOKIE not in http.cookies
        await clock.advance(delay_after(FREE_FAILURES) + 1)
        assert (await login(http)).status_code == 303 and COOKIE in http.cookies

        events = await container.runtime.events.query(EventQuery(type=LOGIN_FAILED, page_size=50))
        reasons = [e.payload()["reason"] for e in events.events]
        assert reasons.count("wrong user name or password") == FREE_FAILURES
        assert "throttled" in reasons
        metrics = (await http.get("/metrics")).text
        assert (
            f'selfheal_ui_login_failures_total{{reason="bad_credentials"}} {FREE_FAILURES}.0'
            in metrics
        )
        assert 'selfheal_ui_login_failures_total{reason="throttled"}' in metrics


async def test_a_viewer_reads_but_cannot_flip(settings: Settings) -> None:
    users = [SecretStr("vic:viewer:viewer-pass"), SecretStr("rita:responder:responder-pass")]
    async with console(settings, ui_users=users) as (_, http, _clock):
        r = await http.post(
            "/api/admin/projects/default/features", json={"name": "Kill"}, headers=ADMIN
        )
        assert r.status_code == 201
        assert (await login(http, "vic", "viewer-pass")).status_code == 303
        assert (await http.get("/flags")).status_code == 200
        r = await http.post("/flags/default/Kill/toggle", data={"environment": "production"})
        assert r.status_code == 403 and "responder" in r.text
        feature = (
            await http.get("/api/admin/projects/default/features/Kill", headers=ADMIN)
        ).json()
        assert not any(e["enabled"] for e in feature["environments"])
        await http.post("/logout")
        http.cookies.clear()

        assert (await login(http, "rita", "responder-pass")).status_code == 303
        r = await http.post("/flags/default/Kill/toggle", data={"environment": "production"})
        assert r.status_code == 303
        r = await http.post("/flags", data={"name": "NotMine", "type": "release"})
        assert r.status_code == 403  # creating flags is an admin's work


async def test_cookie_is_secure_behind_https(settings: Settings) -> None:
    async with console(settings, public_url="https://console.example") as (_, http, _clock):
        r = await login(http)
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    async with console(settings) as (_, http, _clock):
        r = await login(http)
        assert "secure" not in r.headers["set-cookie"].lower()


@pytest.mark.parametrize("spec", ["bob", "bob:root:pw", "bob:viewer:"])
def test_ui_users_need_name_role_and_password(spec: str) -> None:
    from selfheal.core import InvalidInput
    from selfheal.web.sessions import parse_user

    with pytest.raises(InvalidInput):
        parse_user(spec)
