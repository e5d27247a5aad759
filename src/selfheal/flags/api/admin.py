"""Unleash's admin API (project-scoped routes) and the legacy toggle route Keptn calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from selfheal.flags import validation as v
from selfheal.flags.access import TokenService, token_view
from selfheal.flags.api.guard import ADMIN, Guard, actor, read_json
from selfheal.flags.errors import FlagNotFound
from selfheal.flags.metrics import UsageMetrics
from selfheal.flags.model import Flag
from selfheal.flags.segments import SegmentService
from selfheal.flags.service import FlagsService


def flag_view(flag: Flag) -> dict[str, Any]:
    out = flag.to_dict()
    out["enabled"] = any(e.enabled for e in flag.environments.values())
    for env in out["environments"]:
        env["type"] = "production" if env["name"] == "production" else "development"
    return out


def _names(raw: Any) -> list[str]:
    d = v.obj(raw, "body")
    return [
        v.name(n, f"features[{i}]") for i, n in enumerate(v.items(d.get("features"), "features"))
    ]


def router(
    service: FlagsService,
    segments: SegmentService,
    tokens: TokenService,
    usage: UsageMetrics,
    guard: Guard,
    prefix: str = "",
) -> APIRouter:
    api = APIRouter(prefix=f"{prefix}/api/admin", tags=["flags admin"])
    feature = "/projects/{project}/features/{name}"

    async def who(request: Request) -> str:
        return actor(await guard.principal(request, ADMIN))

    @api.get("/projects")
    async def list_projects(request: Request) -> JSONResponse:
        """Unleash's project list, read-only: projects come from settings
        (`SELFHEAL_FLAGS__PROJECTS`)."""
        await who(request)
        out = []
        for name in service.projects:
            flags = await service.list_flags(name)
            out.append(
                {
                    "id": name,
                    "name": "Default" if name == "default" else name,
                    "description": "",
                    "health": 100,
                    "featureCount": len(flags),
                    "staleFeatureCount": sum(1 for f in flags if f.stale),
                    "memberCount": 0,
                    "mode": "open",
                    "defaultStickiness": "default",
                }
            )
        return JSONResponse({"version": 1, "projects": out})

    @api.get("/environments")
    async def list_environments(request: Request) -> JSONResponse:
        """Unleash's environment list, read-only (`SELFHEAL_FLAGS__ENVIRONMENTS`)."""
        await who(request)
        envs = [_environment(i, name) for i, name in enumerate(service.environments)]
        return JSONResponse({"version": 1, "environments": envs})

    @api.get("/environments/{name}")
    async def get_environment(request: Request, name: str) -> JSONResponse:
        await who(request)
        service.check_environment(name)
        return JSONResponse(_environment(service.environments.index(name), name))

    @api.get("/projects/{project}/features")
    async def list_flags(request: Request, project: str) -> JSONResponse:
        await who(request)
        service.check_project(project)
        flags = await service.list_flags(project)
        return JSONResponse({"version": 1, "features": [flag_view(f) for f in flags]})

    @api.post("/projects/{project}/features")
    async def create_flag(request: Request, project: str) -> JSONResponse:
        by = await who(request)
        d = v.obj(await read_json(request), "body")
        flag = await service.create_flag(
            d.get("name"),  # type: ignore[arg-type]  # validated by the service
            project=project,
            type=d.get("type") or "release",
            description=v.string(d.get("description"), "description", optional=True),
            impression_data=v.boolean(d.get("impressionData"), "impressionData"),
            actor=by,
        )
        return JSONResponse(flag_view(flag), status_code=201)

    @api.get(feature)
    async def get_flag(request: Request, project: str, name: str) -> JSONResponse:
        await who(request)
        return JSONResponse(flag_view(await service.get_flag(name, project)))

    @api.put(feature)
    async def update_flag(request: Request, project: str, name: str) -> JSONResponse:
        by = await who(request)
        d = v.obj(await read_json(request), "body")
        return JSONResponse(
            flag_view(await service.update_flag(name, d, project=project, actor=by))
        )

    @api.delete(feature)
    async def archive_flag(request: Request, project: str, name: str) -> Response:
        await service.archive(name, project=project, actor=await who(request))
        return Response(status_code=202)

    async def flip(
        request: Request, project: str, name: str, environment: str, on: bool
    ) -> Response:
        by = await who(request)
        await service.set_enabled(name, environment, on, project=project, actor=by)
        return Response(status_code=200)

    @api.post(feature + "/environments/{environment}/on")
    async def turn_on(request: Request, project: str, name: str, environment: str) -> Response:
        return await flip(request, project, name, environment, True)

    @api.post(feature + "/environments/{environment}/off")
    async def turn_off(request: Request, project: str, name: str, environment: str) -> Response:
        return await flip(request, project, name, environment, False)

    @api.get(feature + "/environments/{environment}/strategies")
    async def list_strategies(
        request: Request, project: str, name: str, environment: str
    ) -> JSONResponse:
        await who(request)
        service.check_environment(environment)
        flag = await service.get_flag(name, project)
        return JSONResponse([s.to_dict() for s in flag.env(environment).strategies])

    @api.post(feature + "/environments/{environment}/strategies")
    async def add_strategy(
        request: Request, project: str, name: str, environment: str
    ) -> JSONResponse:
        by = await who(request)
        raw = await read_json(request)
        s = await service.add_strategy(name, environment, raw, project=project, actor=by)
        return JSONResponse(s.to_dict())

    @api.put(feature + "/environments/{environment}/strategies/{sid}")
    async def update_strategy(
        request: Request, project: str, name: str, environment: str, sid: str
    ) -> JSONResponse:
        by = await who(request)
        raw = await read_json(request)
        s = await service.update_strategy(name, environment, sid, raw, project=project, actor=by)
        return JSONResponse(s.to_dict())

    @api.delete(feature + "/environments/{environment}/strategies/{sid}")
    async def delete_strategy(
        request: Request, project: str, name: str, environment: str, sid: str
    ) -> Response:
        by = await who(request)
        await service.delete_strategy(name, environment, sid, project=project, actor=by)
        return Response(status_code=200)

    @api.get(feature + "/environments/{environment}/variants")
    async def get_variants(
        request: Request, project: str, name: str, environment: str
    ) -> JSONResponse:
        await who(request)
        service.check_environment(environment)
        return _variants(await service.get_flag(name, project), environment)

    @api.put(feature + "/environments/{environment}/variants")
    async def set_variants(
        request: Request, project: str, name: str, environment: str
    ) -> JSONResponse:
        by = await who(request)
        raw = await read_json(request)
        flag = await service.set_variants(name, [environment], raw, project=project, actor=by)
        return _variants(flag, environment)  # as Unleash: the variants, not the flag

    @api.put(feature + "/variants-batch")
    async def set_variants_batch(request: Request, project: str, name: str) -> JSONResponse:
        by = await who(request)
        d = v.obj(await read_json(request), "body")
        envs = [
            str(v.string(e, f"environments[{i}]"))
            for i, e in enumerate(v.items(d.get("environments"), "environments"))
        ]
        if not envs:
            raise v.fail("names no environment", "environments")
        flag = await service.set_variants(name, envs, d.get("variants"), project=project, actor=by)
        return _variants(flag, envs[0])

    @api.post(feature + "/dependencies")
    async def add_dependency(request: Request, project: str, name: str) -> Response:
        by = await who(request)
        await service.add_dependency(name, await read_json(request), project=project, actor=by)
        return Response(status_code=200)

    @api.delete(feature + "/dependencies/{parent}")
    async def delete_dependency(request: Request, project: str, name: str, parent: str) -> Response:
        by = await who(request)
        await service.delete_dependency(name, parent, project=project, actor=by)
        return Response(status_code=200)

    @api.delete(feature + "/dependencies")
    async def delete_dependencies(request: Request, project: str, name: str) -> Response:
        by = await who(request)
        await service.delete_dependency(name, None, project=project, actor=by)
        return Response(status_code=200)

    async def bulk(request: Request, project: str, environment: str, on: bool) -> Response:
        by = await who(request)
        service.check_project(project)
        service.check_environment(environment)
        names = _names(await read_json(request))
        await service.bulk_set_enabled(names, environment, on, project=project, actor=by)
        return Response(status_code=200)

    bulk_env = "/projects/{project}/bulk_features/environments/{environment}"

    @api.post(bulk_env + "/on")
    async def bulk_on(request: Request, project: str, environment: str) -> Response:
        return await bulk(request, project, environment, True)

    @api.post(bulk_env + "/off")
    async def bulk_off(request: Request, project: str, environment: str) -> Response:
        return await bulk(request, project, environment, False)

    @api.post("/projects/{project}/revive")
    async def revive_many(request: Request, project: str) -> Response:
        by = await who(request)
        for flag_name in _names(await read_json(request)):
            await service.revive(flag_name, project=project, actor=by)
        return Response(status_code=200)

    @api.post("/archive/revive/{name}")
    async def revive_one(request: Request, name: str) -> Response:
        by = await who(request)
        project = await service.store.flag_project(name) or "default"
        await service.revive(name, project=project, actor=by)
        return Response(status_code=200)

    @api.get("/archive/features")
    async def archived(request: Request) -> JSONResponse:
        await who(request)
        flags = await service.list_flags(archived=True)
        return JSONResponse({"version": 1, "features": [flag_view(f) for f in flags]})

    async def legacy_toggle(request: Request, name: str, on: bool) -> JSONResponse:
        """Keptn's unleash-service: Basic auth, no body, no environment (default one)."""
        by = await who(request)
        project = await service.store.flag_project(name)
        if project is None:
            raise FlagNotFound(f"no flag {name!r}")
        env = service.default_environment
        await service.set_enabled(name, env, on, project=project, actor=by)
        return JSONResponse(flag_view(await service.get_flag(name, project)), status_code=201)

    @api.post("/features/{name}/toggle/on")
    async def legacy_on(request: Request, name: str) -> JSONResponse:
        return await legacy_toggle(request, name, True)

    @api.post("/features/{name}/toggle/off")
    async def legacy_off(request: Request, name: str) -> JSONResponse:
        return await legacy_toggle(request, name, False)

    @api.get("/segments")
    async def list_segments(request: Request) -> JSONResponse:
        await who(request)
        return JSONResponse({"segments": [s.to_dict() for s in segments.all()]})

    @api.post("/segments")
    async def create_segment(request: Request) -> JSONResponse:
        by = await who(request)
        s = await segments.create(await read_json(request), actor=by)
        return JSONResponse(s.to_dict(), status_code=201)

    @api.put("/segments/{sid}")
    async def update_segment(request: Request, sid: int) -> Response:
        by = await who(request)
        await segments.update(sid, await read_json(request), actor=by)
        return Response(status_code=204)

    @api.delete("/segments/{sid}")
    async def delete_segment(request: Request, sid: int) -> Response:
        await segments.delete(sid, actor=await who(request))
        return Response(status_code=204)

    @api.get("/api-tokens")
    async def list_tokens(request: Request) -> JSONResponse:
        await who(request)
        return JSONResponse({"tokens": [token_view(t) for t in await tokens.all()]})

    @api.post("/api-tokens")
    async def create_token(request: Request) -> JSONResponse:
        by = await who(request)
        issued = await tokens.create(await read_json(request), actor=by)
        return JSONResponse(issued.to_dict(), status_code=201)

    @api.delete("/api-tokens/{token:path}")
    async def delete_token(request: Request, token: str) -> Response:
        await tokens.delete(token, actor=await who(request))
        return Response(status_code=200)

    @api.get("/events")
    async def events(
        request: Request, feature: str | None = None, limit: int = 100
    ) -> JSONResponse:
        await who(request)
        found = await service.history(feature, limit=max(1, min(limit, 1000)))
        return JSONResponse(
            {"version": 1, "events": [e.to_dict() for e in found], "totalEvents": len(found)}
        )

    @api.get("/events/{name}")
    async def flag_events(request: Request, name: str) -> JSONResponse:
        await who(request)
        found = await service.history(name)
        return JSONResponse(
            {"version": 1, "toggleName": name, "events": [e.to_dict() for e in found]}
        )

    @api.get("/client-metrics/features/{name}")
    async def flag_metrics(request: Request, name: str) -> JSONResponse:
        await who(request)
        rows = await usage.for_flag(name)
        data = [
            {
                "timestamp": r.start,
                "yes": r.yes,
                "no": r.no,
                "appName": r.app_name,
                "environment": r.environment,
            }
            for r in rows
        ]
        return JSONResponse({"version": 1, "maturity": "stable", "featureName": name, "data": data})

    return api


def _variants(flag: Flag, environment: str) -> JSONResponse:
    """Unleash's `{version, variants}` of one environment."""
    variants = [x.to_dict() for x in flag.env(environment).variants]
    return JSONResponse({"version": 1, "variants": variants})


def _environment(index: int, name: str) -> dict[str, Any]:
    """An environment as Unleash lists it (all enabled; none protected: no change requests)."""
    lowered = name.lower()
    kind = next(
        (k for k in ("production", "development", "test") if lowered.startswith(k[:3])),
        "development" if lowered == "local" else lowered,
    )
    return {"name": name, "type": kind, "enabled": True, "protected": False, "sortOrder": index + 1}
