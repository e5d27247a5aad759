"""API tokens: `project:environment.secret` strings, kept only as hashes, checked from memory.

The hot path (every SDK poll) never touches the database for a known token: hashes are
cached; an unknown secret is looked up once and then remembered as unknown until the set of
tokens changes: a token event on the bus, or the flag revision moving in the database (the
`RevisionWatcher` reloads the cache then, so a revocation on any replica holds everywhere
within about a poll interval even while the bus is down).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from selfheal.flags.errors import InvalidFlagInput
from selfheal.flags.model import ApiToken
from selfheal.flags.store import SqlFlagStore
from selfheal.runtime import Principal

KINDS = {"admin": "admin", "client": "client", "backend": "client", "frontend": "frontend"}
_NEGATIVE_LIMIT = 10_000


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def strip(secret: str) -> str:
    """Accept `Bearer <token>` as well as the raw token, as Unleash does."""
    secret = secret.strip()
    if secret[:7].lower() == "bearer ":
        return secret[7:].strip()
    return secret


@dataclass(frozen=True, slots=True)
class TokenScope:
    project: str
    environment: str


def scope_of(secret: str) -> TokenScope:
    """`default:production.abc` → default/production; a token without a prefix is `*:*`."""
    head, dot, _rest = secret.partition(".")
    if dot and ":" in head:
        project, _, env = head.partition(":")
        if project and env:
            return TokenScope(project, env)
    return TokenScope("*", "*")


def kind_of(value: str) -> str:
    kind = KINDS.get(value.lower()) if isinstance(value, str) else None
    if kind is None:
        raise InvalidFlagInput("must be one of client, backend, frontend, admin", field="type")
    return kind


def new_secret(project: str, environment: str) -> str:
    return f"{project}:{environment}.{secrets.token_hex(28)}"


def make_token(name: str, kind: str, secret: str, created_at: float) -> ApiToken:
    scope = scope_of(secret)
    head = secret.split(".", 1)[0] + "." if "." in secret else ""
    return ApiToken(
        name=name,
        kind=kind,
        project=scope.project,
        environment=scope.environment,
        secret_hash=digest(secret),
        created_at=created_at,
        prefix=head + secret[len(head) : len(head) + 4] + "…",
    )


def principal(token: ApiToken) -> Principal:
    return Principal(
        name=token.name, kind=token.kind, projects=(token.project,), environment=token.environment
    )


class TokenAuthenticator:
    """`runtime.auth`: resolves raw or Bearer secrets to principals through a hash cache."""

    def __init__(self, store: SqlFlagStore) -> None:
        self._store = store
        self._known: dict[str, Principal] = {}
        self._unknown: set[str] = set()
        self._forgotten: set[str] = set()

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret:
            return None
        key = digest(strip(secret))
        found = self._known.get(key)
        if found is not None or key in self._unknown:
            return found
        token = await self._store.find_token(key)
        if token is None:
            if len(self._unknown) >= _NEGATIVE_LIMIT:
                self._unknown.clear()
            self._unknown.add(key)
            return None
        self._known[key] = principal(token)
        return self._known[key]

    def cached(self, secret: str) -> Principal | None:
        """The principal if already known, without any I/O (the SDK hot path)."""
        return self._known.get(digest(strip(secret)))

    def known(self, secret_hash: str) -> Principal | None:
        """The principal for an already hashed secret, without any I/O (the fast path)."""
        return self._known.get(secret_hash)

    def remember(self, token: ApiToken) -> None:
        self._known[token.secret_hash] = principal(token)
        self._unknown.discard(token.secret_hash)

    def forget(self, secret_hash: str) -> None:
        self._known.pop(secret_hash, None)
        self._forgotten.add(secret_hash)

    def invalidate(self) -> None:
        """Tokens changed somewhere: unknown secrets must be looked up again."""
        self._unknown.clear()

    async def reset(self) -> None:
        """Reload (a token was revoked or created, maybe on another replica). The new set
        replaces the old one in one step, so a valid token never fails while it loads."""
        self._forgotten = set()
        known = {t.secret_hash: principal(t) for t in await self._store.tokens()}
        for secret_hash in self._forgotten:  # revoked here while the list was being read
            known.pop(secret_hash, None)
        self._known = known
        self._unknown = set()

    async def warm(self) -> None:
        for token in await self._store.tokens():
            self._known[token.secret_hash] = principal(token)
