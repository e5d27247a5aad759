"""UI paths answer errors as pages in the layout, API paths keep JSON; a form error comes back
as a one-shot message, and nothing in the URL is printed as an error; every console page
carries the security headers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.failing import FailingDeliveries

PASSWORD = "error-pages-test-password"
ADMIN = {"Authorization": "*:*.admin-secret"}


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    container = await build(
        settings.model_copy(update={"admin_password": SecretStr(PASSWORD)}), bus=MemoryBus()
    )
    await container.start()
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as client:
            r = await client.post("/login", data={"username": "admin", "password": PASSWORD})
            assert r.status_code == 303
            yield client
    finally:
        await container.stop()


def is_page(r: httpx.Response) -> bool:
    return r.headers["content-type"].startswith("text/html") and '<header class="top">' in r.text


async def test_ui_errors_are_pages_and_api_errors_json(http: httpx.AsyncClient) -> None:
    for path, status in (
        ("/problems/no-such-problem", 404),
        ("/bridge/sequence/no-such-context", 404),
        ("/bridge/project/nope", 404),
        ("/flags/nope/at/all/deeper", 404),  # no route
        ("/problems/x/comments", 405),
    ):
        r = await http.get(path)
        assert r.status_code == status, (path, r.status_code)
        assert is_page(r), path
    r = await http.get("/api/v2/problems/no-such-problem", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == 404
    r = await http.get("/api/nothing-here", headers=ADMIN)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


async def test_query_text_is_never_printed_as_an_error(http: httpx.AsyncClient) -> None:
    bait = "Your+session+expired%2C+call+%2B1-555-0100"
    for path in (f"/flags?error={bait}", f"/flags?note={bait}", f"/deliveries?flash={bait}"):
        r = await http.get(path)
        assert r.status_code == 200 and "call +1-555-0100" not in r.text, path
    r = await http.get(f"/login?error={bait}")
    assert "call +1-555-0100" not in r.text


async def test_form_errors_show_once_on_the_page(http: httpx.AsyncClient) -> None:
    r = await http.post("/flags", data={"name": "bad name!", "type": "release"})
    assert r.status_code == 303 and "error" not in r.headers["location"]
    page = await http.get(r.headers["location"])
    assert 'role="alert"' in page.text
    again = await http.get(r.headers["location"])  # shown once, then gone
    assert 'role="alert"' not in again.text


async def test_console_pages_send_security_headers(http: httpx.AsyncClient) -> None:
    for path in ("/flags", "/problems", "/bridge", "/deliveries", "/login", "/problems/nope"):
        r = await http.get(path)
        assert r.headers["x-frame-options"] == "DENY", path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
        assert r.headers["cache-control"] == "no-store"
    api = await http.get("/api/client/features", headers={"Authorization": "*:*.admin-secret"})
    assert "x-frame-options" not in api.headers


async def test_a_bug_on_a_ui_path_is_a_500_page_in_the_layout_without_a_traceback(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "db-password-hunter2"
    container = await build(
        settings.model_copy(update={"admin_password": SecretStr(PASSWORD)}), bus=MemoryBus()
    )
    await container.start()
    failing = FailingDeliveries(container.integrations.store, secret)
    container.integrations.store = failing  # type: ignore[assignment]
    app = create_app(container, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://selfheal.test") as http:
            r = await http.post("/login", data={"username": "admin", "password": PASSWORD})
            assert r.status_code == 303
            with caplog.at_level(logging.ERROR, logger="selfheal.web.errors"):
                page = await http.get("/deliveries?problem=P-1")
                api = await http.get("/api/v1/deliveries", headers=ADMIN)
    finally:
        await container.stop()
    assert failing.calls == 2  # both reached the broken store

    assert page.status_code == 500 and is_page(page)
    assert "The server failed on this page" in page.text
    for leak in (secret, "Traceback", "RuntimeError", "failing.py", "simulated bug"):
        assert leak not in page.text, leak
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    assert api.status_code == 500 and api.headers["content-type"] == "application/json"
    assert api.json() == {"code": 500, "message": "internal server error"}
    assert secret not in api.text

    logged = [r for r in caplog.records if r.exc_info and secret in str(r.exc_info[1])]
    assert len(logged) == 2  # the traceback goes to the log, not to the browser
