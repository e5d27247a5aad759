"""Bad input answers 400 naming the field, and stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from selfheal.bootstrap import Container

P = "/api/admin/projects/default/features"
S = f"{P}/f/environments/production/strategies"


async def audit_count(container: Container) -> int:
    return len(await container.flags.service.history(limit=1000))


@pytest.mark.parametrize(
    ("name", "field"),
    [("has space", "name"), ("a/b", "name"), ("", "name"), ("x" * 101, "name"), (5, "name")],
)
async def test_invalid_flag_names(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container, name: Any, field: str
) -> None:
    before = await audit_count(container)
    r = await http.post(P, json={"name": name}, headers=admin)
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert await audit_count(container) == before
    assert (await http.get(P, headers=admin)).json()["features"] == []


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        (
            {
                "name": "default",
                "constraints": [{"contextName": "x", "operator": "LIKE", "values": []}],
            },
            "constraints[0].operator",
        ),
        ({"name": "flexibleRollout", "parameters": {"rollout": 50}}, "parameters.rollout"),
        ({"name": "flexibleRollout", "parameters": {"rollout": "150"}}, "parameters.rollout"),
        ({"name": "default", "segments": [999]}, "segments[0]"),
        (
            {
                "name": "default",
                "constraints": [{"contextName": "n", "operator": "NUM_GT", "value": "abc"}],
            },
            "constraints[0].value",
        ),
        (
            {
                "name": "default",
                "constraints": [{"contextName": "v", "operator": "SEMVER_EQ", "value": "1.x"}],
            },
            "constraints[0].value",
        ),
        (
            {
                "name": "default",
                "constraints": [{"contextName": "d", "operator": "DATE_AFTER", "value": "soon"}],
            },
            "constraints[0].value",
        ),
        (
            {
                "name": "default",
                "constraints": [{"contextName": "r", "operator": "REGEX", "value": "("}],
            },
            "constraints[0].value",
        ),
        (
            {
                "name": "default",
                "constraints": [
                    {"contextName": "ip", "operator": "IN_CIDR", "values": ["300.1.1.1/8"]}
                ],
            },
            "constraints[0].values[0]",
        ),
        (
            {
                "name": "default",
                "constraints": [{"contextName": "t", "operator": "IN", "values": [1]}],
            },
            "constraints[0].values[0]",
        ),
        (
            {
                "name": "default",
                "variants": [{"name": "a", "weight": 600}, {"name": "b", "weight": 300}],
            },
            "variants",
        ),
        (
            {
                "name": "default",
                "variants": [
                    {"name": "a", "weight": 500, "payload": {"type": "json", "value": "{"}}
                ],
            },
            "variants[0].payload.value",
        ),
        ({"parameters": {}}, "name"),
    ],
)
async def test_invalid_strategies(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    container: Container,
    strategy: dict[str, Any],
    field: str,
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    before = await audit_count(container)
    r = await http.post(S, json=strategy, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert field in r.json()["message"]
    assert await audit_count(container) == before
    assert (await http.get(S, headers=admin)).json() == []


async def test_malformed_json_and_wrong_shapes(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    before = await audit_count(container)
    r = await http.post(
        S, content=b'{"name": ', headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = await http.post(S, json=["default"], headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = await http.put(
        f"{P}/f/environments/production/variants",
        json=[{"name": "a", "weight": 10, "weightType": "fix"}],
        headers=admin,
    )
    assert r.status_code == 400 and r.json()["field"] == "variants"
    r = await http.post(
        "/api/admin/segments",
        json={"name": "s", "constraints": [{"contextName": "a", "operator": "NOPE", "values": []}]},
        headers=admin,
    )
    assert r.status_code == 400 and r.json()["field"] == "constraints[0].operator"
    r = await http.post(
        "/api/admin/api-tokens", json={"tokenName": "t", "type": "root"}, headers=admin
    )
    assert r.status_code == 400 and r.json()["field"] == "type"
    r = await http.post(f"{P}/f/dependencies", json={"feature": "missing"}, headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "feature"
    assert await audit_count(container) == before


async def test_variant_weights_are_shared_out_when_left_out(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    r = await http.put(
        f"{P}/f/environments/production/variants",
        json=[{"name": "a"}, {"name": "b"}, {"name": "c", "weight": 100, "weightType": "fix"}],
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert [v["weight"] for v in r.json()["variants"]] == [450, 450, 100]


async def test_unknown_flag_environment_project_are_404(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    assert (
        await http.post(f"{P}/nope/environments/production/on", headers=admin)
    ).status_code == 404
    assert (await http.post(f"{P}/f/environments/staging/on", headers=admin)).status_code == 404
    assert (await http.get("/api/admin/projects/nope/features", headers=admin)).status_code == 404
    assert (await http.post(P, json={"name": "f"}, headers=admin)).status_code == 409
