from __future__ import annotations

import httpx

from selfheal.bootstrap import Container

P = "/api/admin/projects/default/features"
CLIENT = "default:production.client-secret"


async def setup_flag(http: httpx.AsyncClient, admin: dict[str, str]) -> int:
    seg = await http.post(
        "/api/admin/segments",
        json={
            "name": "gold",
            "constraints": [{"contextName": "tier", "operator": "IN", "values": ["gold"]}],
        },
        headers=admin,
    )
    assert seg.status_code == 201
    sid = int(seg.json()["id"])
    await http.post(P, json={"name": "f1", "description": "one"}, headers=admin)
    await http.post(
        f"{P}/f1/environments/production/strategies",
        json={"name": "flexibleRollout", "parameters": {"rollout": "100"}, "segments": [sid]},
        headers=admin,
    )
    await http.post(
        f"{P}/f1/environments/production/strategies",
        json={"name": "default", "disabled": True},
        headers=admin,
    )
    await http.post(f"{P}/f1/environments/production/on", headers=admin)
    return sid


async def test_v2_body_with_segments_for_new_sdks(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sid = await setup_flag(http, admin)
    r = await http.get(
        "/api/client/features", headers={"Authorization": CLIENT, "Unleash-Client-Spec": "5.0.0"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == 2
    assert body["segments"] == [
        {
            "id": sid,
            "name": "gold",
            "constraints": [
                {
                    "contextName": "tier",
                    "operator": "IN",
                    "values": ["gold"],
                    "inverted": False,
                    "caseInsensitive": False,
                }
            ],
        }
    ]
    (feature,) = body["features"]
    assert feature["enabled"] is True and feature["description"] == "one"
    (strategy,) = feature["strategies"]  # the disabled one is left out
    assert strategy["segments"] == [sid]
    assert strategy["constraints"] == []
    assert all(isinstance(v, str) for v in strategy["parameters"].values())
    assert body["query"] == {
        "project": ["default"],
        "environment": "production",
        "inlineSegmentConstraints": False,
    }
    assert body["meta"]["revisionId"] >= 1
    assert body["meta"]["etag"] == r.headers["etag"]


async def test_segments_inlined_for_old_sdks(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await setup_flag(http, admin)
    for headers in (
        {"Authorization": CLIENT},
        {"Authorization": CLIENT, "Unleash-Client-Spec": "4.1.0"},
    ):
        body = (await http.get("/api/client/features", headers=headers)).json()
        assert "segments" not in body
        (strategy,) = body["features"][0]["strategies"]
        assert "segments" not in strategy
        assert strategy["constraints"][0]["contextName"] == "tier"


async def test_every_feature_has_strategies(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await http.post(P, json={"name": "bare"}, headers=admin)
    body = (await http.get("/api/client/features", headers={"Authorization": CLIENT})).json()
    assert body["features"][0]["strategies"] == []
    assert body["features"][0]["variants"] == []


async def test_etag_changes_with_every_revision_and_304_is_bare(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    h = {"Authorization": CLIENT}
    first = await http.get("/api/client/features", headers=h)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith(':v1"')
    again = await http.get("/api/client/features", headers={**h, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    await http.post(f"{P}/f/environments/production/on", headers=admin)
    changed = await http.get("/api/client/features", headers={**h, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["features"][0]["enabled"] is True


async def test_token_scope_limits_projects_and_environment(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    await http.post(f"{P}/f/environments/development/on", headers=admin)
    r = await http.post(
        "/api/admin/api-tokens",
        json={
            "tokenName": "dev",
            "type": "backend",
            "environment": "development",
            "projects": ["*"],
        },
        headers=admin,
    )
    dev = r.json()["secret"]
    dev_body = (
        await http.get("/api/client/features", headers={"Authorization": f"Bearer {dev}"})
    ).json()
    prod_body = (await http.get("/api/client/features", headers={"Authorization": CLIENT})).json()
    assert dev_body["features"][0]["enabled"] is True
    assert prod_body["features"][0]["enabled"] is False
    other = (
        await http.get("/api/client/features?project=other", headers={"Authorization": CLIENT})
    ).json()
    assert other["features"] == []
    frontend = await http.get(
        "/api/client/features", headers={"Authorization": "default:production.frontend-secret"}
    )
    assert frontend.status_code == 403


async def test_register_and_metrics_answer_202_and_metrics_are_kept(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    h = {"Authorization": CLIENT}
    r = await http.post(
        "/api/client/register",
        json={
            "appName": "web",
            "instanceId": "i1",
            "sdkVersion": "unleash-client-python:6.0",
            "strategies": ["default"],
            "started": "2024-01-01T00:00:00Z",
            "interval": 15000,
        },
        headers=h,
    )
    assert r.status_code == 202
    metrics = {
        "appName": "web",
        "instanceId": "i1",
        "bucket": {
            "start": "2024-01-01T00:00:00Z",
            "stop": "2024-01-01T00:01:00Z",
            "toggles": {"f": {"yes": 3, "no": 1, "variants": {}}},
        },
    }
    for _ in range(2):
        assert (await http.post("/api/client/metrics", json=metrics, headers=h)).status_code == 202
    rows = await container.flags.usage.for_flag("f", hours=10**6)
    assert [(r.yes, r.no, r.app_name, r.environment) for r in rows] == [(6, 2, "web", "production")]
    r = await http.post(
        "/api/client/metrics",
        json={"appName": "web", "bucket": {"toggles": {"f": {"yes": "x"}}}},
        headers=h,
    )
    assert r.status_code == 400 and r.json()["field"] == "bucket.toggles.f.yes"


async def test_delta_endpoint_hydrates_and_answers_304(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await http.post(P, json={"name": "f"}, headers=admin)
    r = await http.get("/api/client/delta", headers={"Authorization": CLIENT})
    (event,) = r.json()["events"]
    assert event["type"] == "hydration" and [f["name"] for f in event["features"]] == ["f"]
    again = await http.get(
        "/api/client/delta", headers={"Authorization": CLIENT, "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


async def test_frontend_api_and_ofrep(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await http.post(P, json={"name": "on"}, headers=admin)
    await http.post(P, json={"name": "off"}, headers=admin)
    await http.post(
        f"{P}/on/environments/production/strategies",
        json={"name": "userWithId", "parameters": {"userIds": "u1"}},
        headers=admin,
    )
    await http.post(f"{P}/on/environments/production/on", headers=admin)
    fe = {"Authorization": "default:production.frontend-secret"}
    toggles = (await http.get("/api/frontend?userId=u1", headers=fe)).json()["toggles"]
    assert [t["name"] for t in toggles] == ["on"]
    assert toggles[0]["variant"]["name"] == "disabled"
    assert (await http.get("/api/frontend?userId=u2", headers=fe)).json()["toggles"] == []
    posted = await http.post("/api/frontend", json={"context": {"userId": "u1"}}, headers=fe)
    assert [t["name"] for t in posted.json()["toggles"]] == ["on"]

    one = await http.post(
        "/ofrep/v1/evaluate/flags/on", json={"context": {"targetingKey": "u1"}}, headers=fe
    )
    assert one.status_code == 200
    assert one.json() == {
        "key": "on",
        "reason": "TARGETING_MATCH",
        "variant": "on",
        "value": True,
        "metadata": {"flagType": "release", "enabled": True},
    }
    off = (await http.post("/ofrep/v1/evaluate/flags/off", json={"context": {}}, headers=fe)).json()
    assert off["value"] is False and off["reason"] == "DISABLED" and "variant" in off
    missing = await http.post("/ofrep/v1/evaluate/flags/nope", json={}, headers=fe)
    assert missing.status_code == 404 and missing.json()["errorCode"] == "FLAG_NOT_FOUND"
    bad = await http.post("/ofrep/v1/evaluate/flags/on", content=b"{", headers=fe)
    assert bad.status_code == 400 and bad.json()["errorCode"] == "INVALID_CONTEXT"
    bulk = await http.post(
        "/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "u1"}}, headers=fe
    )
    assert {f["key"] for f in bulk.json()["flags"]} == {"on", "off"}
    same = await http.post(
        "/ofrep/v1/evaluate/flags",
        json={"context": {"targetingKey": "u1"}},
        headers={**fe, "If-None-Match": bulk.headers["etag"]},
    )
    assert same.status_code == 304
