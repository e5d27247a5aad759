from __future__ import annotations

import base64

import httpx

from selfheal.bootstrap import Container

P = "/api/admin/projects/default/features"


async def create(http: httpx.AsyncClient, admin: dict[str, str], name: str = "checkout") -> None:
    r = await http.post(P, json={"name": name, "type": "release"}, headers=admin)
    assert r.status_code == 201, r.text


async def test_create_get_flip_and_strategies(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    await create(http, admin)
    r = await http.get(f"{P}/checkout", headers=admin)
    assert r.status_code == 200
    envs = {e["name"]: e for e in r.json()["environments"]}
    assert set(envs) == {"development", "production"}
    assert not envs["production"]["enabled"]

    r = await http.post(f"{P}/checkout/environments/production/on", headers=admin)
    assert r.status_code == 200
    assert (await container.flags.service.get_flag("checkout")).env("production").enabled

    body = {
        "name": "flexibleRollout",
        "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "checkout"},
        "constraints": [{"contextName": "appName", "operator": "IN", "values": ["web"]}],
    }
    r = await http.post(
        f"{P}/checkout/environments/production/strategies", json=body, headers=admin
    )
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    body["parameters"]["rollout"] = "75"  # type: ignore[index]
    r = await http.put(
        f"{P}/checkout/environments/production/strategies/{sid}", json=body, headers=admin
    )
    assert r.status_code == 200
    r = await http.get(f"{P}/checkout/environments/production/strategies", headers=admin)
    assert [s["parameters"]["rollout"] for s in r.json()] == ["75"]
    r = await http.delete(f"{P}/checkout/environments/production/strategies/{sid}", headers=admin)
    assert r.status_code == 200
    r = await http.get(f"{P}/checkout/environments/production/strategies", headers=admin)
    assert r.json() == []


async def test_every_change_is_an_audit_event_and_a_cloudevent(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    await create(http, admin)
    await http.post(f"{P}/checkout/environments/production/on", headers=admin)
    r = await http.get("/api/admin/events", params={"feature": "checkout"}, headers=admin)
    events = r.json()["events"]
    assert [e["type"] for e in events] == ["feature-environment-enabled", "feature-created"]
    flip = events[0]
    assert flip["createdBy"] == "admin:init-admin-*-*"
    assert flip["environment"] == "production"
    before = {e["name"]: e["enabled"] for e in flip["preData"]["environments"]}
    after = {e["name"]: e["enabled"] for e in flip["data"]["environments"]}
    assert before["production"] is False and after["production"] is True

    from selfheal.storage import EventQuery

    page = await container.runtime.events.query(
        EventQuery(type="selfheal.flags.feature-environment-enabled")
    )
    assert page.total_count == 1
    assert page.events[0].source == "selfheal/flags"
    assert page.events[0].data["featureName"] == "checkout"


async def test_legacy_toggle_exactly_as_keptn_calls_it(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    await create(http, admin, "EnableStaticContent")
    basic = base64.b64encode(b"keptn:*:*.admin-secret").decode()
    for prefix in ("", "/unleash"):
        r = await http.post(
            f"{prefix}/api/admin/features/EnableStaticContent/toggle/on",
            headers={"Authorization": f"Basic {basic}"},
        )
        assert r.status_code in (200, 201)
        flag = await container.flags.service.get_flag("EnableStaticContent")
        assert flag.env("production").enabled
        assert not flag.env("development").enabled
        r = await http.post(
            f"{prefix}/api/admin/features/EnableStaticContent/toggle/off",
            headers={"Authorization": f"Basic {basic}"},
        )
        assert r.status_code in (200, 201)
        assert (
            not (await container.flags.service.get_flag("EnableStaticContent"))
            .env("production")
            .enabled
        )
    r = await http.post(
        "/api/admin/features/EnableStaticContent/toggle/on",
        headers={"Authorization": "Basic " + base64.b64encode(b"keptn:wrong").decode()},
    )
    assert r.status_code == 401


async def test_tokens_unknown_wrong_kind_and_starting(
    http: httpx.AsyncClient, container: Container
) -> None:
    r = await http.get(P, headers={"Authorization": "nope"})
    assert r.status_code == 401
    r = await http.get(P)
    assert r.status_code == 401
    r = await http.get(P, headers={"Authorization": "default:production.client-secret"})
    assert r.status_code == 403
    r = await http.get(P, headers={"Authorization": "Bearer *:*.admin-secret"})
    assert r.status_code == 200
    container.runtime.ready = False
    r = await http.get("/api/client/features", headers={"Authorization": "whatever"})
    assert r.status_code == 503
    container.runtime.ready = True


async def test_token_admin_api_stores_only_hashes(
    http: httpx.AsyncClient, admin: dict[str, str], container: Container
) -> None:
    r = await http.post(
        "/api/admin/api-tokens",
        json={
            "tokenName": "web",
            "type": "client",
            "environment": "development",
            "projects": ["default"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert secret.startswith("default:development.")
    r = await http.get("/api/client/features", headers={"Authorization": secret})
    assert r.status_code == 200
    assert r.json()["query"]["environment"] == "development"
    listed = (await http.get("/api/admin/api-tokens", headers=admin)).json()["tokens"]
    assert all(secret not in str(t) for t in listed)
    import sqlalchemy as sa

    async with container.runtime.database.engine.connect() as conn:
        rows = (await conn.execute(sa.text("select * from flag_tokens"))).all()
    assert rows and all(secret not in str(tuple(row)) for row in rows)
    r = await http.delete(f"/api/admin/api-tokens/{secret}", headers=admin)
    assert r.status_code == 200
    r = await http.get("/api/client/features", headers={"Authorization": secret})
    assert r.status_code == 401


async def test_archive_revive_and_bulk(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create(http, admin, "a")
    await create(http, admin, "b")
    r = await http.post(
        "/api/admin/projects/default/bulk_features/environments/development/on",
        json={"features": ["a", "b"]},
        headers=admin,
    )
    assert r.status_code == 200
    listed = (await http.get(P, headers=admin)).json()["features"]
    assert all(
        next(e for e in f["environments"] if e["name"] == "development")["enabled"] for f in listed
    )
    assert (await http.delete(f"{P}/a", headers=admin)).status_code == 202
    assert (await http.get(f"{P}/a", headers=admin)).status_code == 404
    names = [
        f["name"]
        for f in (await http.get("/api/admin/archive/features", headers=admin)).json()["features"]
    ]
    assert names == ["a"]
    r = await http.post(
        "/api/admin/projects/default/revive", json={"features": ["a"]}, headers=admin
    )
    assert r.status_code == 200
    assert (await http.get(f"{P}/a", headers=admin)).status_code == 200


async def test_unleash_prefix_serves_the_same_routes(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await http.post(
        "/unleash/api/admin/projects/default/features", json={"name": "x"}, headers=admin
    )
    assert r.status_code == 201
    r = await http.get(
        "/unleash/api/client/features",
        headers={"Authorization": "default:production.client-secret"},
    )
    assert [f["name"] for f in r.json()["features"]] == ["x"]


async def test_putting_variants_answers_with_the_variants_as_unleash_does(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(http, admin)
    env = f"{P}/checkout/environments/production/variants"
    r = await http.put(env, json=[{"name": "blue"}, {"name": "red"}], headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and set(body) == {"version", "variants"}
    assert [x["name"] for x in body["variants"]] == ["blue", "red"]
    assert sum(x["weight"] for x in body["variants"]) == 1000
    assert body == (await http.get(env, headers=admin)).json()

    batch = {"environments": ["development", "production"], "variants": [{"name": "green"}]}
    r = await http.put(f"{P}/checkout/variants-batch", json=batch, headers=admin)
    assert r.status_code == 200, r.text
    assert [x["name"] for x in r.json()["variants"]] == ["green"]
    dev = await http.get(f"{P}/checkout/environments/development/variants", headers=admin)
    assert [x["name"] for x in dev.json()["variants"]] == ["green"]

    r = await http.put(f"{P}/checkout/variants-batch", json={"environments": []}, headers=admin)
    assert r.status_code == 400 and "environments" in r.text


async def test_projects_and_environments_are_listed_as_unleash_lists_them(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(http, admin)
    await create(http, admin, "another")
    r = await http.get("/api/admin/projects", headers=admin)
    assert r.status_code == 200, r.text
    [project] = r.json()["projects"]
    assert r.json()["version"] == 1
    assert (project["id"], project["name"], project["featureCount"]) == ("default", "Default", 2)
    r = await http.get("/api/admin/environments", headers=admin)
    envs = r.json()["environments"]
    assert [(e["name"], e["type"], e["sortOrder"]) for e in envs] == [
        ("development", "development", 1),
        ("production", "production", 2),
    ]
    assert all(e["enabled"] and not e["protected"] for e in envs)
    one = await http.get("/api/admin/environments/production", headers=admin)
    assert one.json() == envs[1]
    assert (await http.get("/api/admin/environments/staging", headers=admin)).status_code == 404
    assert (await http.get("/api/admin/projects")).status_code == 401
    assert (await http.get("/unleash/api/admin/environments", headers=admin)).status_code == 200
