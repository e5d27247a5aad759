"""The flags console's segments page and variants form, through the real app and the same
service the admin API uses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

import httpx
import pytest
from pydantic import SecretStr

from selfheal import flashes
from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.settings import Settings
from selfheal.web import create_app

PASSWORD = "flags-console-password"
ADMIN = {"Authorization": "*:*.admin-secret"}
API = "/api/admin/projects/default/features"


def flash(r: httpx.Response) -> dict[str, str]:
    """The one-shot message a form's redirect carries (a cookie, never the URL)."""
    raw = r.cookies.get(flashes.COOKIE)
    return json.loads(unquote(raw)) if raw else {}


@pytest.fixture
async def ui(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    container = await build(
        settings.model_copy(update={"admin_password": SecretStr(PASSWORD)}), bus=MemoryBus()
    )
    await container.start()
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as client:
            r = await client.post(
                "/login", data={"username": "admin", "password": PASSWORD, "next": "/flags"}
            )
            assert r.status_code == 303
            assert (
                await client.post(API, json={"name": "checkout"}, headers=ADMIN)
            ).status_code == 201
            yield client
    finally:
        await container.stop()


async def _segments(ui: httpx.AsyncClient) -> list[dict[str, object]]:
    segments: list[dict[str, object]] = (await ui.get("/api/admin/segments", headers=ADMIN)).json()[
        "segments"
    ]
    return segments


async def test_segments_are_created_edited_used_and_deleted_in_the_console(
    ui: httpx.AsyncClient,
) -> None:
    page = await ui.get("/flags/segments")
    assert page.status_code == 200 and "No segments yet" in page.text
    assert 'href="/flags/segments"' in (await ui.get("/flags")).text

    form = {
        "name": "beta users",
        "description": "early adopters",
        "constraints": '[{"contextName": "userId", "operator": "IN", "values": ["alice"]}]',
    }
    r = await ui.post("/flags/segments", data=form)
    assert r.status_code == 303 and "note" in flash(r)
    [segment] = await _segments(ui)
    assert (segment["name"], segment["description"]) == ("beta users", "early adopters")
    sid = segment["id"]

    r = await ui.post("/flags/segments", data={**form, "constraints": "[{oops"})
    assert "constraints" in flash(r).get("error", "")
    r = await ui.post("/flags/segments", data={**form, "name": ""})
    assert "error" in flash(r)
    assert len(await _segments(ui)) == 1  # nothing half-stored

    r = await ui.post("/flags/segments", data={**form, "id": str(sid), "name": "beta testers"})
    assert "note" in flash(r)
    assert [s["name"] for s in await _segments(ui)] == ["beta testers"]

    strategy = {"environment": "production", "name": "default", "segments": str(sid)}
    r = await ui.post("/flags/default/checkout/strategies", data=strategy)
    assert "note" in flash(r)
    page = await ui.get("/flags/segments")
    assert "beta testers" in page.text and 'href="/flags/default/checkout"' in page.text
    r = await ui.post(f"/flags/segments/{sid}/delete")
    assert "checkout" in flash(r).get("error", "")
    assert len(await _segments(ui)) == 1

    flag = (await ui.get(f"{API}/checkout", headers=ADMIN)).json()
    production = next(e for e in flag["environments"] if e["name"] == "production")
    [used] = production["strategies"]
    r = await ui.post(
        "/flags/default/checkout/strategies",
        data={**strategy, "id": used["id"], "delete": "1"},
    )
    assert "note" in flash(r)
    r = await ui.post(f"/flags/segments/{sid}/delete")
    assert "note" in flash(r)
    assert await _segments(ui) == []


async def test_variants_are_set_per_environment_in_the_console(ui: httpx.AsyncClient) -> None:
    variants = (
        '[{"name": "blue", "payload": {"type": "string", "value": "sky"}},'
        ' {"name": "red", "weight": 200, "weightType": "fix"}]'
    )
    r = await ui.post(
        "/flags/default/checkout/variants", data={"environment": "production", "variants": variants}
    )
    assert r.status_code == 303 and "note" in flash(r), r.headers
    got = (await ui.get(f"{API}/checkout/environments/production/variants", headers=ADMIN)).json()
    assert [(v["name"], v["weight"]) for v in got["variants"]] == [("blue", 800), ("red", 200)]
    dev = (await ui.get(f"{API}/checkout/environments/development/variants", headers=ADMIN)).json()
    assert dev["variants"] == []

    page = (await ui.get("/flags/default/checkout")).text
    assert "Variants (2)" in page, page[:3000]
    assert "80.0 %" in page and "20.0 % (fixed)" in page
    assert "string: sky" in page

    for bad in ("[{", '[{"name": "x", "weight": 2000, "weightType": "fix"}]', '{"name": "x"}'):
        r = await ui.post(
            "/flags/default/checkout/variants", data={"environment": "production", "variants": bad}
        )
        assert "error" in flash(r), bad
    got = (await ui.get(f"{API}/checkout/environments/production/variants", headers=ADMIN)).json()
    assert [v["name"] for v in got["variants"]] == ["blue", "red"]  # unchanged

    r = await ui.post(
        "/flags/default/checkout/variants", data={"environment": "production", "variants": "[]"}
    )
    assert "note" in flash(r)
    got = (await ui.get(f"{API}/checkout/environments/production/variants", headers=ADMIN)).json()
    assert got["variants"] == []


async def test_console_pages_send_strangers_to_the_login_and_back(ui: httpx.AsyncClient) -> None:
    ui.cookies.clear()
    for method, path in (("GET", "/flags?q=check"), ("POST", "/flags/segments")):
        r = await ui.request(method, path)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=" + quote(path, safe="")
    r = await ui.post(
        "/login", data={"username": "admin", "password": PASSWORD, "next": "/flags?q=check"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/flags?q=check"
