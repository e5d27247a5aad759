"""The runner's view of the platform: HTTP only, the same APIs a user's tools would call.

Flags through the Unleash admin API, the project through the Keptn control-plane and
configuration APIs, the website through the monitor's services API, and problems through the
Dynatrace-style problems API v2. Each call lives in one method so the shape is in one place.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

PROJECT = "website"
STAGE = "production"
SERVICE = "front-end"
ENVIRONMENT = "production"
FLAG_PROJECT = "default"
TAGS = {"keptn_project": PROJECT, "keptn_stage": STAGE, "keptn_service": SERVICE}
PROBE_CONSTRAINT = {
    "contextName": "selfhealProbe",
    "operator": "NOT_IN",
    "values": ["true"],
    "caseInsensitive": False,
    "inverted": False,
}
"""On the kill switch's strategy: selfheal's probes (`X-Selfheal-Probe: true`, mapped by the
website to this context property) still reach the app while users get the CDN."""
MAX_EVENT_PAGES = 10


class PlatformError(RuntimeError):
    """The platform answered something the runner cannot go on from."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _ok(response: httpx.Response, *also: int) -> httpx.Response:
    if response.status_code < 300 or response.status_code in also:
        return response
    raise PlatformError(
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code}: {response.text[:300]}"
    )


class Platform:
    def __init__(self, client: httpx.AsyncClient) -> None:
        """`client` has the platform's base URL and an admin token in `Authorization`."""
        self.http = client

    async def ready(self) -> bool:
        try:
            return (await self.http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    # flags (Unleash admin API) -------------------------------------------------------------
    def _feature(self, flag: str) -> str:
        return f"/api/admin/projects/{FLAG_PROJECT}/features/{flag}"

    async def create_flag(self, flag: str) -> None:
        """The kill switch, off in production, with a default strategy for when it is on
        that leaves probes out (`PROBE_CONSTRAINT`)."""
        r = await self.http.post(
            f"/api/admin/projects/{FLAG_PROJECT}/features",
            json={
                "name": flag,
                "type": "kill-switch",
                "description": "Serve the static copy from the CDN instead of the app",
            },
        )
        _ok(r, 409)
        env = f"{self._feature(flag)}/environments/{ENVIRONMENT}"
        strategies = await self.http.get(f"{env}/strategies")
        if strategies.status_code == 200 and not strategies.json():
            # An enabled flag without strategies would be on for everyone, probes included.
            strategy = {"name": "default", "parameters": {}, "constraints": [PROBE_CONSTRAINT]}
            _ok(await self.http.post(f"{env}/strategies", json=strategy))
        await self.set_flag(flag, False)

    async def set_flag(self, flag: str, on: bool) -> None:
        env = f"{self._feature(flag)}/environments/{ENVIRONMENT}"
        _ok(await self.http.post(f"{env}/{'on' if on else 'off'}"))

    async def flag_events(self, flag: str) -> list[dict[str, Any]]:
        """The flag's change events (Unleash admin events API), with their server times."""
        r = await self.http.get("/api/admin/events", params={"feature": flag, "limit": 1000})
        if r.status_code != 200:
            return []
        return [e for e in r.json().get("events", []) if isinstance(e, dict)]

    async def flag_enabled(self, flag: str) -> bool:
        body = _ok(await self.http.get(self._feature(flag))).json()
        for env in body.get("environments", []):
            if env.get("name") == ENVIRONMENT:
                return bool(env.get("enabled"))
        return False

    # control plane (Keptn API) -------------------------------------------------------------
    async def create_project(self, shipyard: str) -> None:
        r = await self.http.post(
            "/api/controlPlane/v1/project",
            json={"projectName": PROJECT, "name": PROJECT, "shipyard": _b64(shipyard)},
        )
        _ok(r, 409)

    async def create_service(self) -> None:
        r = await self.http.post(
            f"/api/controlPlane/v1/project/{PROJECT}/service", json={"serviceName": SERVICE}
        )
        _ok(r, 409)

    async def add_resource(self, uri: str, content: str) -> None:
        path = (
            f"/api/configuration-service/v1/project/{PROJECT}/stage/{STAGE}"
            f"/service/{SERVICE}/resource"
        )
        body = {"resources": [{"resourceURI": uri, "resourceContent": _b64(content)}]}
        _ok(await self.http.post(path, json=body))

    async def sequences(self) -> list[dict[str, Any]]:
        r = await self.http.get(f"/api/controlPlane/v1/sequence/{PROJECT}", params={"pageSize": 20})
        if r.status_code != 200:
            return []
        states = r.json().get("states", [])
        return [s for s in states if isinstance(s, dict)]

    async def events(self, keptn_context: str) -> list[dict[str, Any]]:
        """Every event of one keptnContext in the event store (bounded: 10 pages of 200)."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "keptnContext": keptn_context,
            "project": PROJECT,
            "pageSize": 200,
        }
        for _ in range(MAX_EVENT_PAGES):
            r = await self.http.get("/api/mongodb-datastore/event", params=params)
            if r.status_code != 200:
                break
            body = r.json()
            out.extend(e for e in body.get("events", []) if isinstance(e, dict))
            if not body.get("nextPageKey"):
                break
            params["nextPageKey"] = body["nextPageKey"]
        return out

    async def events_of_type(self, type_: str) -> list[dict[str, Any]]:
        """The project's latest events of one type (those a monitor emits carry no context)."""
        r = await self.http.get(
            "/api/mongodb-datastore/event",
            params={"type": type_, "project": PROJECT, "pageSize": 50},
        )
        if r.status_code != 200:
            return []
        return [e for e in r.json().get("events", []) if isinstance(e, dict)]

    # monitor (services API, problems API v2) -----------------------------------------------
    async def register_service(self, spec: dict[str, Any]) -> None:
        r = await self.http.post("/api/v1/monitor/services", json=spec)
        if r.status_code == 409:
            r = await self.http.put(f"/api/v1/monitor/services/{spec['name']}", json=spec)
        _ok(r)

    async def problems(self) -> list[dict[str, Any]]:
        r = await self.http.get("/api/v2/problems", params={"pageSize": 50})
        if r.status_code != 200:
            return []
        return [p for p in r.json().get("problems", []) if isinstance(p, dict)]

    async def comments(self, problem_id: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"/api/v2/problems/{problem_id}/comments")
        if r.status_code != 200:
            return []
        return [c for c in r.json().get("comments", []) if isinstance(c, dict)]


def problem_tags(problem: dict[str, Any]) -> dict[str, str]:
    """Tags of a v2 problem (`entityTags` [{key, value}] or a Dynatrace 'k:v, k:v' string)."""
    out: dict[str, str] = {}
    raw = problem.get("entityTags") or problem.get("tags") or problem.get("Tags") or []
    if isinstance(raw, str):
        raw = [
            {"key": k.strip(), "value": v.strip()}
            for k, _, v in (p.partition(":") for p in raw.split(","))
        ]
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    for tag in raw:
        if isinstance(tag, dict) and "key" in tag:
            out[str(tag["key"])] = str(tag.get("value", ""))
    return out


def is_ours(problem: dict[str, Any]) -> bool:
    tags = problem_tags(problem)
    if tags:
        return all(tags.get(k) == v for k, v in TAGS.items())
    return True
