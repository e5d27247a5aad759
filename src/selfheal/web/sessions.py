"""Console users, roles and login sessions, kept in the database.

- A session is a row keyed by the SHA-256 of a random cookie value: logging out deletes it,
  so a copied cookie stops working at once, on every replica. Sessions end after
  `idle` seconds without a request, and at the latest `ttl` seconds after the login.
- Passwords are scrypt-hashed in a worker thread (≈50 ms of CPU must not stall the loop).
- Failed logins are counted per user name and per client address in the database (replicas
  share the count); after `FREE_FAILURES` each further attempt waits twice as long. An
  unknown user costs the same hash as a wrong password, so timing tells nothing.
- Roles: viewer (reads), responder (flips flags, steers sequences, retries deliveries),
  admin (everything, including tokens, strategies and archiving).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.exc import IntegrityError

from selfheal.core import Clock, Forbidden, InvalidInput
from selfheal.storage import Database

if TYPE_CHECKING:
    from fastapi import Request

COOKIE = "selfheal_session"
ROLES = ("viewer", "responder", "admin")
FREE_FAILURES = 5
MAX_DELAY = 15 * 60.0
TOUCH_EVERY = 30.0  # seconds between writes of a session's last_seen

metadata = sa.MetaData()
users_table = sa.Table(
    "web_users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
sessions_table = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
failures_table = sa.Table(
    "web_login_failures",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure", sa.Float, nullable=False),
)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, _key = stored.split("$")
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, salt_bytes), stored)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def delay_after(failures: int) -> float:
    """Seconds a login must wait after `failures` failed attempts in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY, 2.0 ** (failures - FREE_FAILURES))


class Throttled(InvalidInput):
    """Too many failed logins for this user or address: try again later."""


@dataclass(frozen=True, slots=True)
class UiUser:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class Sessions:
    """`runtime.ui_auth`: who is logged in, from the session cookie."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        hours: float = 12.0,
        idle_minutes: float = 30.0,
        registry: CollectorRegistry | None = None,
        admin: str = "admin",
        password: str | None = None,
        users: list[str] | None = None,
    ) -> None:
        self._seed = (admin, password, list(users or []))
        self._started = False
        self._starting = asyncio.Lock()
        self._db = database
        self._clock = clock
        self.ttl = hours * 3600
        self.idle = idle_minutes * 60
        self._dummy = hash_password(secrets.token_urlsafe(16))
        self.failures = Counter(
            "selfheal_ui_login_failures",
            "Failed console logins (wrong name or password, or throttled)",
            ["reason"],
            registry=registry,
        )

    async def start(self) -> None:
        """Create the admin on first start (printing a password once if none was configured),
        and the `name:role:password` users of the settings that do not exist yet. The
        server calls it at startup; a login calls it too (apps served without a lifespan)."""
        async with self._starting:
            if not self._started:
                await self._create_users(*self._seed)
                self._started = True

    async def _create_users(self, admin: str, password: str | None, users: list[str]) -> None:
        if await self.role_of(admin) is None:
            chosen = password or secrets.token_urlsafe(12)
            if await self.add_user(admin, chosen, "admin") and not password:
                print(
                    f"selfheal: created UI user {admin!r} with password {chosen} "
                    "(shown once; set SELFHEAL_ADMIN_PASSWORD to choose it)",
                    file=sys.stderr,
                )
        for spec in users:
            name, role, secret = parse_user(spec)
            if await self.role_of(name) is None:
                await self.add_user(name, secret, role)

    async def add_user(self, name: str, password: str, role: str) -> bool:
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        hashed = await asyncio.to_thread(hash_password, password)
        row = {"name": name, "password_hash": hashed, "role": role, "created_at": self._now()}
        try:
            async with self._db.engine.begin() as conn:
                exists = await conn.execute(
                    sa.select(users_table.c.name).where(users_table.c.name == name)
                )
                if exists.first() is not None:
                    return False
                await conn.execute(users_table.insert().values(**row))
        except IntegrityError:
            # another replica starting on the same empty database added it meanwhile
            return False
        return True

    async def role_of(self, name: str) -> str | None:
        t = users_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.c.role).where(t.c.name == name))).first()
        return str(row.role) if row else None

    def _now(self) -> float:
        return self._clock.now()

    # login -------------------------------------------------------------------------------
    async def login(self, name: str, password: str, address: str) -> str | None:
        """A new session's cookie value; None for a wrong name or password; `Throttled`
        while this user or address must wait."""
        await self.start()
        keys = [f"user:{name[:100]}", f"addr:{address[:100]}"]
        now = self._now()
        wait = await self._wait(keys, now)
        if wait > 0:
            self.failures.labels("throttled").inc()
            raise Throttled(f"too many failed logins; try again in {wait:.0f} s", field="password")
        t = users_table
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.c.password_hash).where(t.c.name == name))).first()
        stored = str(row.password_hash) if row else self._dummy  # the same work either way
        good = await asyncio.to_thread(check_password, password, stored)
        if row is None or not good:
            await self._failed(keys, now)
            self.failures.labels("bad_credentials").inc()
            return None
        await self._forget(keys[0])
        cookie = secrets.token_urlsafe(32)
        async with self._db.engine.begin() as conn:
            await conn.execute(
                sessions_table.insert().values(
                    id_hash=_digest(cookie),
                    user_name=name,
                    created_at=now,
                    last_seen=now,
                    expires_at=now + self.ttl,
                )
            )
        return cookie

    async def _wait(self, keys: list[str], now: float) -> float:
        t = failures_table
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t).where(t.c.key.in_(keys)))).all()
        return float(
            max([r.last_failure + delay_after(int(r.failures)) - now for r in rows] + [0.0])
        )

    async def _failed(self, keys: list[str], now: float) -> None:
        t = failures_table
        async with self._db.engine.begin() as conn:
            for key in keys:
                done = await conn.execute(
                    t.update()
                    .where(t.c.key == key)
                    .values(failures=t.c.failures + 1, last_failure=now)
                )
                if not done.rowcount:
                    await conn.execute(t.insert().values(key=key, failures=1, last_failure=now))

    async def _forget(self, key: str) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(failures_table.delete().where(failures_table.c.key == key))

    # sessions ----------------------------------------------------------------------------
    async def logout(self, cookie: str | None) -> None:
        if cookie:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    sessions_table.delete().where(sessions_table.c.id_hash == _digest(cookie))
                )

    async def verify(self, cookie: str | None) -> UiUser | None:
        if not cookie:
            return None
        s, u = sessions_table, users_table
        now = self._now()
        key = _digest(cookie)
        stmt = (
            sa.select(s.c.last_seen, s.c.expires_at, u.c.name, u.c.role)
            .join(u, u.c.name == s.c.user_name)
            .where(s.c.id_hash == key)
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        if row.expires_at <= now or row.last_seen + self.idle <= now:
            await self.logout(cookie)
            return None
        if now - row.last_seen >= TOUCH_EVERY:
            async with self._db.engine.begin() as conn:
                await conn.execute(s.update().where(s.c.id_hash == key).values(last_seen=now))
        return UiUser(str(row.name), str(row.role))

    async def current(self, request: Request) -> UiUser | None:
        return await self.verify(request.cookies.get(COOKIE))

    async def user(self, request: Request, role: str = "viewer") -> str | None:
        """The logged-in user's name if their role allows `role`'s work; None if nobody is
        logged in; `Forbidden` for a user whose role is too small."""
        found = await self.current(request)
        if found is None:
            return None
        if not found.may(role):
            raise Forbidden(f"a {found.role} may not do this; it needs the {role} role")
        return found.name


def parse_user(spec: str) -> tuple[str, str, str]:
    """`name:role:password` from the settings."""
    name, _, rest = spec.partition(":")
    role, _, password = rest.partition(":")
    if not name or role not in ROLES or not password:
        raise InvalidInput(
            f"a UI user is name:role:password with a role of {', '.join(ROLES)}",
            field="ui_users",
        )
    return name, role, password
