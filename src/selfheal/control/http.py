"""The control plane's HTTP API: Keptn's routes where practical, plus plain JSON ones.

All routes need an admin token in `x-token` (Keptn's header) or `Authorization`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field

from selfheal.control.errors import InvalidResource, ProjectNotFound
from selfheal.control.projects import Project
from selfheal.control.sequences import Sequence
from selfheal.control.service import ControlService
from selfheal.core import parse_http
from selfheal.core.limits import MAX_NAME
from selfheal.runtime import Principal
from selfheal.storage import EventQuery


class ProjectIn(BaseModel):
    projectName: str = Field(min_length=1, max_length=MAX_NAME)
    shipyard: str = Field(min_length=1, description="base64 of shipyard.yaml")


class ServiceIn(BaseModel):
    serviceName: str = Field(min_length=1, max_length=MAX_NAME)


class ResourceIn(BaseModel):
    resourceURI: str = Field(min_length=1)
    resourceContent: str = Field(description="base64 of the file")


class ResourcesIn(BaseModel):
    resources: list[ResourceIn] = Field(min_length=1)


class ControlIn(BaseModel):
    state: str = Field(pattern="^(pause|resume|abort)$")
    stage: str | None = None


class ApproveIn(BaseModel):
    approved: bool = True
    by: str | None = None


class TriggerIn(BaseModel):
    project: str = Field(min_length=1, max_length=MAX_NAME)
    stage: str = Field(min_length=1, max_length=MAX_NAME)
    service: str = Field(min_length=1, max_length=MAX_NAME)
    sequence: str = Field(min_length=1, max_length=MAX_NAME)
    data: dict[str, Any] = Field(default_factory=dict)


class SimpleProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    shipyard: str = Field(min_length=1, description="shipyard.yaml as text")


class SimpleResourceIn(BaseModel):
    uri: str = Field(min_length=1)
    content: str
    stage: str = Field(default="", max_length=MAX_NAME)
    service: str = Field(default="", max_length=MAX_NAME)


Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
"""Where a page starts: a row count the database can take as an OFFSET."""
Revision = Annotated[int | None, Query(ge=0, le=2**31 - 1)]
"""A resource's version (Keptn's `commitID`): a positive number the database can hold."""


def _b64(value: str, field: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise InvalidResource("must be base64 of UTF-8 text", field=field) from exc


def project_json(project: Project, stages: list[str]) -> dict[str, Any]:
    return {
        "projectName": project.name,
        "revision": project.revision,
        "stages": [
            {"stageName": s, "services": [{"serviceName": v} for v in project.services]}
            for s in stages
        ],
    }


def sequence_json(seq: Sequence) -> dict[str, Any]:
    from selfheal.control.messages import outcome_words

    problem = seq.data.get("problem") if isinstance(seq.data.get("problem"), dict) else {}
    return {
        "shkeptncontext": seq.context,
        "name": seq.name,
        "project": seq.project,
        "stage": seq.stage,
        "service": seq.service,
        "state": "paused" if seq.paused and seq.state != "finished" else seq.state,
        "phase": seq.phase,
        "outcome": seq.outcome,
        "message": seq.message,
        "summary": outcome_words(seq.outcome, seq.message),
        "revision": seq.revision,
        "iteration": seq.iteration,
        "problemTitle": (problem or {}).get("ProblemTitle"),
        "problemURL": (seq.data.get("labels") or {}).get("Problem URL"),
        "created": seq.created,
        "updated": seq.updated,
    }


def router(service: ControlService) -> APIRouter:
    api = APIRouter(tags=["control"])
    runtime = service.runtime

    async def admin(
        x_token: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Principal:
        return await runtime.require_admin(x_token or authorization)

    need_admin = Depends(admin)

    # events ------------------------------------------------------------------------
    @api.post("/api/v1/event")
    async def post_event(request: Request, _: Principal = need_admin) -> dict[str, str]:
        event = parse_http(request.headers, await request.body(), fill_defaults=True)
        return {"keptnContext": await service.send_event(event)}

    async def events(
        request: Request,
        _: Principal = need_admin,
        keptnContext: str | None = None,
        type: str | None = None,
        project: str | None = None,
        stage: str | None = None,
        pageSize: int = 20,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        page = await service.events(
            EventQuery(
                keptn_context=keptnContext,
                type=type,
                project=project,
                stage=stage,
                service=request.query_params.get("service"),
                page_size=pageSize,
                next_page_key=nextPageKey,
            )
        )
        return {
            "events": [e.to_dict() for e in page.events],
            "nextPageKey": page.next_page_key,
            "totalCount": page.total_count,
            "pageSize": pageSize,
        }

    api.add_api_route("/api/v1/events", events, methods=["GET"])
    api.add_api_route("/api/mongodb-datastore/event", events, methods=["GET"])

    # projects and services (Keptn's controlPlane shapes) ----------------------------
    async def _project_out(name: str) -> dict[str, Any]:
        project = await service.get_project(name)
        shipyard = await service.shipyard(name)
        return project_json(project, [s.name for s in shipyard.stages])

    @api.post("/api/controlPlane/v1/project", status_code=201)
    async def create_project(body: ProjectIn, _: Principal = need_admin) -> dict[str, Any]:
        await service.create_project(body.projectName, _b64(body.shipyard, "shipyard"))
        return await _project_out(body.projectName)

    @api.get("/api/controlPlane/v1/project")
    async def list_projects(_: Principal = need_admin) -> dict[str, Any]:
        out = [await _project_out(p.name) for p in await service.list_projects()]
        return {"projects": out, "totalCount": len(out)}

    @api.get("/api/controlPlane/v1/project/{project}")
    async def get_project(project: str, _: Principal = need_admin) -> dict[str, Any]:
        return await _project_out(project)

    @api.delete("/api/controlPlane/v1/project/{project}")
    async def delete_project(project: str, _: Principal = need_admin) -> dict[str, str]:
        await service.delete_project(project)
        return {"message": f"project {project} deleted"}

    @api.post("/api/controlPlane/v1/project/{project}/service", status_code=201)
    async def create_service(
        project: str, body: ServiceIn, _: Principal = need_admin
    ) -> dict[str, str]:
        await service.create_service(project, body.serviceName)
        return {"serviceName": body.serviceName}

    @api.delete("/api/controlPlane/v1/project/{project}/service/{name}")
    async def delete_service(project: str, name: str, _: Principal = need_admin) -> dict[str, str]:
        await service.delete_service(project, name)
        return {"message": f"service {name} deleted"}

    # resources (Keptn's configuration-service shapes) -------------------------------
    async def put_resources(
        body: ResourcesIn, project: str, stage: str = "", name: str = ""
    ) -> dict[str, Any]:
        files = [
            (r.resourceURI, _b64(r.resourceContent, f"resources[{i}].resourceContent"))
            for i, r in enumerate(body.resources)
        ]
        revision = await service.add_resources(project, stage, name, files)
        return {"commitID": str(revision), "metadata": {"version": str(revision)}}

    async def get_resource(
        project: str, uri: str, stage: str = "", name: str = "", revision: int | None = None
    ) -> dict[str, Any]:
        found = await service.resource(project, stage, name, uri.lstrip("/"), revision)
        if found is None or (found.stage, found.service) != (stage, name):
            raise ProjectNotFound(f"resource {uri!r} not found")
        return {
            "resourceURI": found.uri,
            "resourceContent": base64.b64encode(found.content.encode()).decode(),
            "metadata": {"version": str(found.revision)},
        }

    async def list_resources(project: str, stage: str = "", name: str = "") -> dict[str, Any]:
        found = await service.list_resources(project, stage, name)
        items = [{"resourceURI": r.uri, "metadata": {"version": str(r.revision)}} for r in found]
        return {"resources": items, "totalCount": len(items)}

    # every path parameter declared by name, so the OpenAPI document names them too
    root = "/api/configuration-service/v1/project/{project}"
    in_stage = root + "/stage/{stage}"
    in_service = in_stage + "/service/{name}"

    async def put_in_project(
        project: str, body: ResourcesIn, _: Principal = need_admin
    ) -> dict[str, Any]:
        return await put_resources(body, project)

    async def put_in_stage(
        project: str, stage: str, body: ResourcesIn, _: Principal = need_admin
    ) -> dict[str, Any]:
        return await put_resources(body, project, stage)

    async def put_in_service(
        project: str, stage: str, name: str, body: ResourcesIn, _: Principal = need_admin
    ) -> dict[str, Any]:
        return await put_resources(body, project, stage, name)

    async def list_in_project(project: str, _: Principal = need_admin) -> dict[str, Any]:
        return await list_resources(project)

    async def list_in_stage(project: str, stage: str, _: Principal = need_admin) -> dict[str, Any]:
        return await list_resources(project, stage)

    async def list_in_service(
        project: str, stage: str, name: str, _: Principal = need_admin
    ) -> dict[str, Any]:
        return await list_resources(project, stage, name)

    async def get_in_project(
        project: str, uri: str, _: Principal = need_admin, revision: Revision = None
    ) -> dict[str, Any]:
        return await get_resource(project, uri, revision=revision)

    async def get_in_stage(
        project: str, stage: str, uri: str, _: Principal = need_admin, revision: Revision = None
    ) -> dict[str, Any]:
        return await get_resource(project, uri, stage, revision=revision)

    async def get_in_service(
        project: str,
        stage: str,
        name: str,
        uri: str,
        _: Principal = need_admin,
        revision: Revision = None,
    ) -> dict[str, Any]:
        return await get_resource(project, uri, stage, name, revision)

    for prefix, put, get_all, get_one in (
        (root, put_in_project, list_in_project, get_in_project),
        (in_stage, put_in_stage, list_in_stage, get_in_stage),
        (in_service, put_in_service, list_in_service, get_in_service),
    ):
        for method in ("POST", "PUT"):  # one route each: one operation id each
            api.add_api_route(prefix + "/resource", put, methods=[method], status_code=201)
        api.add_api_route(prefix + "/resource", get_all, methods=["GET"])
        api.add_api_route(prefix + "/resource/{uri:path}", get_one, methods=["GET"])

    # sequences ---------------------------------------------------------------------
    @api.get("/api/controlPlane/v1/sequence/{project}")
    async def keptn_sequences(
        project: str,
        request: Request,
        _: Principal = need_admin,
        pageSize: int = 20,
        nextPageKey: Offset = 0,
        state: str | None = None,
        stage: str | None = None,
        keptnContext: str | None = None,
    ) -> dict[str, Any]:
        if keptnContext:
            seqs = [await service.get_sequence(keptnContext)]
            total = 1
        else:
            seqs, total = await service.list_sequences(
                project=project,
                stage=stage,
                service=request.query_params.get("service"),
                state=state,
                limit=min(max(pageSize, 1), 500),
                offset=max(nextPageKey, 0),
            )
        nxt = nextPageKey + len(seqs)
        return {
            "states": [sequence_json(s) for s in seqs],
            "nextPageKey": nxt if nxt < total else 0,
            "totalCount": total,
        }

    @api.post("/api/controlPlane/v1/sequence/{project}/{context}/control")
    async def keptn_control(
        project: str, context: str, body: ControlIn, _: Principal = need_admin
    ) -> dict[str, Any]:
        return sequence_json(await service.control(context, body.state))

    @api.post("/api/v1/sequences", status_code=201)
    async def trigger(body: TriggerIn, _: Principal = need_admin) -> dict[str, str]:
        context = await service.trigger_sequence(
            body.project, body.stage, body.service, body.sequence, body.data
        )
        return {"keptnContext": context}

    @api.get("/api/v1/sequences")
    async def sequences(
        request: Request,
        _: Principal = need_admin,
        project: str | None = None,
        stage: str | None = None,
        state: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        seqs, total = await service.list_sequences(
            project=project,
            stage=stage,
            service=request.query_params.get("service"),
            state=state,
            limit=min(max(limit, 1), 500),
            offset=max(offset, 0),
        )
        return {"sequences": [sequence_json(s) for s in seqs], "totalCount": total}

    @api.get("/api/v1/sequences/{context}")
    async def sequence(context: str, _: Principal = need_admin) -> dict[str, Any]:
        return sequence_json(await service.get_sequence(context))

    @api.post("/api/v1/sequences/{context}/{state}")
    async def control(context: str, state: str, who: Principal = need_admin) -> dict[str, Any]:
        if state in ("approve", "reject"):
            return sequence_json(await service.approve(context, state == "approve", by=who.name))
        return sequence_json(await service.control(context, state))

    @api.post("/api/v1/sequences/{context}/approval")
    async def approval(
        context: str, body: ApproveIn, who: Principal = need_admin
    ) -> dict[str, Any]:
        return sequence_json(await service.approve(context, body.approved, by=body.by or who.name))

    # plain JSON projects -----------------------------------------------------------
    @api.post("/api/v1/projects", status_code=201)
    async def simple_project(body: SimpleProjectIn, _: Principal = need_admin) -> dict[str, Any]:
        await service.create_project(body.name, body.shipyard)
        return await _project_out(body.name)

    @api.post("/api/v1/projects/{project}/services", status_code=201)
    async def simple_service(
        project: str, body: ServiceIn, _: Principal = need_admin
    ) -> dict[str, str]:
        await service.create_service(project, body.serviceName)
        return {"serviceName": body.serviceName}

    @api.put("/api/v1/projects/{project}/resources")
    async def simple_resource(
        project: str, body: SimpleResourceIn, _: Principal = need_admin
    ) -> dict[str, Any]:
        revision = await service.add_resources(
            project, body.stage, body.service, [(body.uri, body.content)]
        )
        return {"revision": revision}

    return api
