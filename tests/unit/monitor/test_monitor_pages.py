"""The problems UI behind the flags context's real login."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest

from selfheal.bootstrap import Container
from selfheal.web import create_app
from tests.unit.monitor.conftest import ADMIN, login

ALERT = {
    "version": "4",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighErrorRatio", "keptn_service": "checkout"},
            "annotations": {"summary": "Checkout <errors>"},
            "startsAt": "2026-11-29T10:00:00Z",
            "fingerprint": "f1",
        }
    ],
}


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "target"),
    [
        ("GET", "/problems", "%2Fproblems"),
        ("GET", "/problems?status=OPEN", "%2Fproblems%3Fstatus%3DOPEN"),
        ("GET", "/problems/P-1", "%2Fproblems%2FP-1"),
        ("POST", "/problems/P-1/comments", "%2Fproblems%2FP-1%2Fcomments"),
    ],
)
async def test_monitor_pages_send_strangers_to_login(
    http: httpx.AsyncClient, method: str, path: str, target: str
) -> None:
    r = await http.request(method, path, data={"message": "hi"} if method == "POST" else None)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={target}"


async def test_monitor_pages_after_logging_in(http: httpx.AsyncClient) -> None:
    wrong = await http.post(
        "/login", data={"username": "admin", "password": "nope", "next": "/problems"}
    )
    assert "error=" not in wrong.headers["location"]  # the message is a cookie, not URL text
    assert "wrong user name or password" in unquote(wrong.cookies["selfheal_flash"])
    assert (await http.get("/problems")).status_code == 303
    await http.post("/api/v1/monitor/services", headers=ADMIN, json={
        "name": "front-end", "source": {"scrape": {"url": "http://127.0.0.1:9/metrics"}}})  # fmt: skip
    opened = await http.post("/api/v1/alertmanager", json=ALERT, headers=ADMIN)
    problem_id = opened.json()["results"][0]["problemId"]

    await login(http)
    listing = await http.get("/problems")
    assert listing.status_code == 200
    assert "Checkout &lt;errors&gt;" in listing.text  # escaped
    assert f'href="/problems/{problem_id}"' in listing.text and "front-end" in listing.text
    assert "pending" in listing.text  # the monitored service's state
    assert (await http.get("/problems?status=RESOLVED")).text.count("<tr class=") == 0

    page = await http.get(f"/problems/{problem_id}")
    assert page.status_code == 200 and "Checkout &lt;errors&gt;" in page.text
    assert "No SLI series" in page.text  # checkout is not a monitored service
    assert "No comments yet." in page.text
    r = await http.post(f"/problems/{problem_id}/comments", data={"message": "looking <now>"})
    assert r.status_code == 303 and r.headers["location"] == f"/problems/{problem_id}#comments"
    blank = await http.post(f"/problems/{problem_id}/comments", data={"message": "  \n "})
    assert blank.status_code == 303  # a form error on the page, not a JSON 400
    assert "needs some text" in unquote(blank.cookies["selfheal_flash"])
    page = await http.get(f"/problems/{problem_id}")
    assert 'role="alert"' in page.text and "needs some text" in page.text
    assert "looking &lt;now&gt;" in page.text and "<strong>admin</strong>" in page.text
    comments = await http.get(f"/api/v2/problems/{problem_id}/comments", headers=ADMIN)
    (mine,) = [c for c in comments.json()["comments"] if c["context"] == "ui"]
    assert (mine["content"], mine["authorName"]) == ("looking <now>", "admin")
    missing = await http.get("/problems/nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
