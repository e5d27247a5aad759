"""Issuing and revoking API tokens (admin API, CLI, INIT_*_API_TOKENS at start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from selfheal.flags import validation as v
from selfheal.flags.errors import TokenNotFound
from selfheal.flags.model import ApiToken
from selfheal.flags.service import FlagsService
from selfheal.flags.tokens import (
    TokenAuthenticator,
    digest,
    kind_of,
    make_token,
    new_secret,
    scope_of,
    strip,
)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as shown once, at creation (the only time the secret is visible)."""

    token: ApiToken
    secret: str

    def to_dict(self) -> dict[str, Any]:
        return {**token_view(self.token), "secret": self.secret}


def token_view(token: ApiToken) -> dict[str, Any]:
    kind = "client" if token.kind == "client" else token.kind
    return {
        "tokenName": token.name,
        "username": token.name,
        "type": kind,
        "project": token.project,
        "projects": [token.project],
        "environment": token.environment,
        "createdAt": token.created_at,
        "prefix": token.prefix,
        "id": token.secret_hash[:12],
    }


class TokenService:
    def __init__(self, flags: FlagsService, auth: TokenAuthenticator) -> None:
        self.flags = flags
        self.auth = auth

    async def all(self) -> list[ApiToken]:
        return await self.flags.store.tokens()

    async def create(self, raw: Any, *, actor: str = "admin") -> IssuedToken:
        """`{"tokenName", "type": client|backend|frontend|admin, "environment", "projects"}`."""
        d = v.obj(raw, "body")
        name = d.get("tokenName", d.get("username"))
        name = v.string(name, "tokenName")
        if not name:
            raise v.fail("must not be empty", "tokenName")
        kind = kind_of(v.string(d.get("type", "client"), "type") or "client")
        if kind == "admin":
            project, environment = "*", "*"
        else:
            environment = (
                v.string(d.get("environment", self.flags.default_environment), "environment") or ""
            )
            if environment != "*":
                self.flags.check_environment(environment)
            projects = d.get("projects")
            if projects is None:
                projects = [v.string(d.get("project", "*"), "project")]
            projects = v.items(projects, "projects")
            if len(projects) != 1 or not isinstance(projects[0], str):
                raise v.fail("give exactly one project name or '*'", "projects")
            project = projects[0]
            if project != "*":
                self.flags.check_project(project)
        secret = new_secret(project, environment)
        return await self.issue(name, kind, secret, actor=actor)

    async def issue(
        self, name: str, kind: str, secret: str, *, actor: str = "system"
    ) -> IssuedToken:
        token = make_token(name, kind, secret, self.flags.clock.now())
        if await self.flags.store.add_token(token):
            self.auth.remember(token)
            await self.flags.record(
                self.flags.audit(
                    "api-token-created",
                    actor,
                    None,
                    data=token_view(token),
                    project=None if token.project == "*" else token.project,
                    environment=None if token.environment == "*" else token.environment,
                )
            )
        return IssuedToken(token, secret)

    async def delete(self, secret_or_id: str, *, actor: str = "admin") -> None:
        key = digest(strip(secret_or_id))
        tokens = await self.flags.store.tokens()
        match = next(
            (t for t in tokens if key == t.secret_hash or t.secret_hash[:12] == secret_or_id), None
        )
        if match is None or not await self.flags.store.delete_token(match.secret_hash):
            raise TokenNotFound("no such API token")
        self.auth.forget(match.secret_hash)
        await self.flags.record(
            self.flags.audit("api-token-deleted", actor, None, pre_data=token_view(match))
        )

    async def seed(
        self, admin: list[SecretStr], backend: list[SecretStr], frontend: list[SecretStr]
    ) -> None:
        """Like Unleash's INIT_*_API_TOKENS: make sure these tokens exist."""
        for kind, secrets in (("admin", admin), ("client", backend), ("frontend", frontend)):
            for secret in secrets:
                raw = secret.get_secret_value().strip()
                scope = scope_of(raw)
                await self.issue(f"init-{kind}-{scope.project}-{scope.environment}", kind, raw)
