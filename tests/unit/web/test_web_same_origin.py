"""A state-changing request that carries the UI session must come from a page of this
server: another site's form or script gets a 403 before any handler runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.settings import Settings
from selfheal.web import create_app

PASSWORD = "same-origin-test-password"
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
            yield client
    finally:
        await container.stop()


async def _login(http: httpx.AsyncClient) -> None:
    r = await http.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/"})
    assert r.status_code == 303 and "selfheal_session" in http.cookies


async def test_ui_forms_refuse_other_sites_and_take_their_own(http: httpx.AsyncClient) -> None:
    await _login(http)
    form = {"name": "from-a-form", "type": "release", "description": ""}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "http://selfheal.test.evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.selfheal.test"},
    ):
        r = await http.post("/flags", data=form, headers=headers)
        assert r.status_code == 403, headers
        assert r.json()["field"] == "Origin"
    flags = await http.get("/api/admin/projects/default/features", headers=ADMIN)
    assert flags.json()["features"] == []  # nothing was stored

    same = {"Origin": "http://selfheal.test", "Sec-Fetch-Site": "same-origin"}
    r = await http.post("/flags", data=form, headers=same)
    assert r.status_code in (200, 303), r.text
    # behind a proxy that names the upstream in Host and the public name in X-Forwarded-Host
    proxied = {"Origin": "https://selfheal.example.com", "X-Forwarded-Host": "selfheal.example.com"}
    r = await http.post("/flags", data={**form, "name": "via-proxy"}, headers=proxied)
    assert r.status_code in (200, 303), r.text
    flags = await http.get("/api/admin/projects/default/features", headers=ADMIN)
    assert sorted(f["name"] for f in flags.json()["features"]) == ["from-a-form", "via-proxy"]


async def test_requests_without_the_ui_session_are_not_judged_by_origin(
    http: httpx.AsyncClient,
) -> None:
    body = {"name": "from-a-script", "type": "release"}
    r = await http.post(
        "/api/admin/projects/default/features",
        json=body,
        headers={**ADMIN, "Origin": "https://tools.example"},
    )
    assert r.status_code == 201, r.text
    r = await http.get("/api/admin/projects", headers={**ADMIN, "Origin": "https://x.example"})
    assert r.status_code == 200
