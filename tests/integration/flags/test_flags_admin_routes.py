"""Every admin route is reachable through the whole app: none shadows another.

Two guards. The table sends a real, authorised request for each documented route and checks
the status its handler gives. The sweep builds a concrete URL from every route the admin
router declares (under both prefixes), sends it without a token, and checks that the route
that answered is that same route (a shadowing route would answer instead, or routing would
give 404/405): a new route is covered without anyone adding it to a table.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from selfheal.bootstrap import Container
from selfheal.flags.api import admin as admin_api
from selfheal.flags.component import PREFIXES
from selfheal.web import create_app

F = "/api/admin/projects/default/features/checkout"
ENV = F + "/environments/production"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


CASES = [
    Case("GET", "/api/admin/projects", 200),
    Case("GET", "/api/admin/environments", 200),
    Case("GET", "/api/admin/environments/production", 200),
    Case("GET", "/api/admin/projects/default/features", 200),
    Case("POST", "/api/admin/projects/default/features", 201, {"name": "another"}),
    Case("GET", F, 200),
    Case("PUT", F, 200, {"description": "new words"}),
    Case("DELETE", F, 202),
    Case("POST", ENV + "/on", 200),
    Case("POST", ENV + "/off", 200),
    Case("GET", ENV + "/strategies", 200),
    Case("POST", ENV + "/strategies", 200, {"name": "default"}),
    Case("PUT", ENV + "/strategies/{strategy}", 200, {"name": "userWithId"}),
    Case("DELETE", ENV + "/strategies/{strategy}", 200),
    Case("GET", ENV + "/variants", 200),
    Case("PUT", ENV + "/variants", 200, [{"name": "blue"}]),
    Case("PUT", F + "/variants-batch", 200, {"environments": ["production"], "variants": []}),
    Case("POST", F + "/dependencies", 200, {"feature": "parent"}),
    Case("DELETE", F + "/dependencies/parent", 200),
    Case("DELETE", F + "/dependencies", 200),
    Case(
        "POST",
        "/api/admin/projects/default/bulk_features/environments/production/on",
        200,
        {"features": ["checkout"]},
    ),
    Case(
        "POST",
        "/api/admin/projects/default/bulk_features/environments/production/off",
        200,
        {"features": ["checkout"]},
    ),
    Case("POST", "/api/admin/projects/default/revive", 200, {"features": ["old"]}),
    Case("POST", "/api/admin/archive/revive/old", 200),
    Case("GET", "/api/admin/archive/features", 200),
    Case("POST", "/api/admin/features/checkout/toggle/on", 201),
    Case("POST", "/api/admin/features/checkout/toggle/off", 201),
    Case("GET", "/api/admin/segments", 200),
    Case("POST", "/api/admin/segments", 201, {"name": "beta", "constraints": []}),
    Case("PUT", "/api/admin/segments/{segment}", 204, {"name": "beta2", "constraints": []}),
    Case("DELETE", "/api/admin/segments/{segment}", 204),
    Case("GET", "/api/admin/api-tokens", 200),
    Case("POST", "/api/admin/api-tokens", 201, {"tokenName": "t2", "type": "client"}),
    Case("DELETE", "/api/admin/api-tokens/{token}", 200),
    Case("GET", "/api/admin/events", 200),
    Case("GET", "/api/admin/events/checkout", 200),
    Case("GET", "/api/admin/client-metrics/features/checkout", 200),
]


async def _fixture_ids(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """A flag with a strategy, a parent flag, an archived flag, a segment and a token."""
    projects = "/api/admin/projects/default/features"
    for name in ("checkout", "parent", "old"):
        r = await http.post(projects, json={"name": name}, headers=admin)
        assert r.status_code == 201, r.text
    r = await http.delete(f"{projects}/old", headers=admin)
    assert r.status_code == 202, r.text
    r = await http.post(ENV + "/strategies", json={"name": "default"}, headers=admin)
    assert r.status_code == 200, r.text
    strategy = r.json()["id"]
    r = await http.post("/api/admin/segments", json={"name": "s", "constraints": []}, headers=admin)
    assert r.status_code == 201, r.text
    segment = r.json()["id"]
    r = await http.post(
        "/api/admin/api-tokens", json={"tokenName": "t", "type": "client"}, headers=admin
    )
    assert r.status_code == 201, r.text
    return {"strategy": str(strategy), "segment": str(segment), "token": r.json()["id"]}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_admin_route_answers_with_its_own_handler(
    http: httpx.AsyncClient, admin: dict[str, str], case: Case
) -> None:
    ids = await _fixture_ids(http, admin)
    path = case.path.format(**ids)
    r = await http.request(case.method, path, json=case.body, headers=admin)
    assert r.status_code == case.status, (case.method, path, r.status_code, r.text)


async def test_add_strategy_is_not_taken_for_a_toggle(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    """Regression: POST …/environments/{env}/strategies once answered 404 'no route'."""
    await _fixture_ids(http, admin)
    r = await http.post(ENV + "/strategies", json={"name": "flexibleRollout"}, headers=admin)
    assert r.status_code == 200, r.text
    flag = await container.flags.service.get_flag("checkout")
    assert [s.name for s in flag.env("production").strategies] == ["default", "flexibleRollout"]
    assert not flag.env("production").enabled


class _RouteRecorder:
    """Remembers which route answered the last request (routing writes it into the scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.route = None
        try:
            await self.app(scope, receive, send)
        finally:
            self.route = scope.get("route")


SAMPLES = {"project": "default", "name": "checkout", "environment": "production", "sid": "7"}


def concrete(template: str) -> str:
    """`/projects/{project}/…/{sid:int}` → a URL this template (and only it, we hope) matches."""

    def one(match: re.Match[str]) -> str:
        name, _, convertor = match.group(1).partition(":")
        if convertor == "int":
            return "7"
        return SAMPLES.get(name, f"sample-{name}")

    return re.sub(r"{([^}]+)}", one, template)


@pytest.fixture
async def recorded(container: Container) -> AsyncIterator[tuple[_RouteRecorder, httpx.AsyncClient]]:
    recorder = _RouteRecorder(create_app(container, manage_lifecycle=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=recorder), base_url="http://test"
    ) as client:
        yield recorder, client


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda p: p or "root")
async def test_every_declared_admin_route_is_reachable(
    recorded: tuple[_RouteRecorder, httpx.AsyncClient], container: Container, prefix: str
) -> None:
    recorder, client = recorded
    flags = container.flags
    declared = admin_api.router(
        flags.service, flags.segments, flags.tokens, flags.usage, flags.guard, prefix
    ).routes
    assert len(declared) >= len(CASES)
    for route in declared:
        assert isinstance(route, APIRoute)
        path = concrete(route.path)
        for method in sorted(route.methods or ()):
            r = await client.request(method, path)
            answered = getattr(recorder.route, "path", None)
            assert (answered, r.status_code) == (route.path, 401), (method, path, r.text)
