"""What every flags route needs first: the caller's token, its scope, and a JSON body."""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request

from selfheal.core import Forbidden, InvalidInput, Unauthorized, Unavailable
from selfheal.flags.snapshot import Scope
from selfheal.flags.tokens import TokenAuthenticator
from selfheal.runtime import Principal, Runtime

CLIENT = frozenset({"client", "admin"})
FRONTEND = frozenset({"frontend", "admin"})
ANY = frozenset({"client", "frontend", "admin"})
ADMIN = frozenset({"admin"})


def secret_of(request: Request) -> str | None:
    """The token from `Authorization` (raw, `Bearer …`, or the password of Basic auth)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return header


class Guard:
    def __init__(
        self, runtime: Runtime, auth: TokenAuthenticator, default_environment: str
    ) -> None:
        self.runtime = runtime
        self.auth = auth
        self.default_environment = default_environment

    async def principal(self, request: Request, kinds: frozenset[str]) -> Principal:
        """Never a transient 401/403: until the system is started the answer is 503."""
        if not self.runtime.ready:
            raise Unavailable("selfheal is starting, try again shortly")
        secret = secret_of(request)
        if not secret:
            raise Unauthorized("an API token is required in the Authorization header")
        found = self.auth.cached(secret) or await self.auth.authenticate(secret)
        if found is None:
            raise Unauthorized("unknown API token")
        if found.kind not in kinds:
            raise Forbidden(f"a {found.kind} token may not be used here")
        return found

    def scope(self, principal: Principal, request: Request | None = None) -> Scope:
        projects = principal.projects
        prefix = ""
        if request is not None and request.query_params:
            asked = tuple(request.query_params.getlist("project"))
            if asked:
                projects = asked if "*" in projects else tuple(p for p in asked if p in projects)
            prefix = request.query_params.get("namePrefix", "")
        env = principal.environment
        if env == "*":
            env = self.default_environment
        return Scope(tuple(sorted(projects)), env, prefix)


def actor(principal: Principal) -> str:
    return f"{principal.kind}:{principal.name}"


async def read_json(request: Request, *, required: bool = True) -> Any:
    body = await request.body()
    if not body.strip():
        if required:
            raise InvalidInput("a JSON body is required", field="body")
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from exc


def spec_at_least(header: str | None, wanted: tuple[int, int, int]) -> bool:
    """Compare an `Unleash-Client-Spec` header with a version (missing = old)."""
    if not header:
        return False
    parts: list[int] = []
    for piece in header.strip().lstrip("v").split("-")[0].split(".")[:3]:
        try:
            parts.append(int(piece))
        except ValueError:
            return False
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts) >= wanted
