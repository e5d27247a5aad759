"""UI users and login sessions: scrypt-hashed passwords, HMAC-signed session cookies.

The signing key is shared through the database (or set as SELFHEAL_SECRET_KEY), so any
replica accepts a session another one issued.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from typing import TYPE_CHECKING

from selfheal.core import Clock
from selfheal.flags.store import SqlFlagStore

if TYPE_CHECKING:
    from fastapi import Request

COOKIE = "selfheal_session"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, _key = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


class Sessions:
    """`runtime.ui_auth`: who is logged in, from the signed session cookie."""

    def __init__(self, store: SqlFlagStore, clock: Clock, *, hours: float = 12.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl = hours * 3600
        self._key = secrets.token_bytes(32)

    async def start(self, secret_key: str | None, admin: str, password: str | None) -> None:
        """Load the signing key; create the admin user on first start (printing a password
        once if none was configured)."""
        self._key = (
            secret_key or await self._store.meta("session_key", secrets.token_hex(32))
        ).encode()
        if await self._store.user_hash(admin) is not None:
            return
        chosen = password or secrets.token_urlsafe(12)
        created = await self._store.add_user(admin, hash_password(chosen), self._clock.now())
        if created and not password:
            print(
                f"selfheal: created UI user {admin!r} with password {chosen} "
                "(shown once; set SELFHEAL_ADMIN_PASSWORD to choose it)",
                file=sys.stderr,
            )

    async def login(self, name: str, password: str) -> str | None:
        """A session cookie value, or None for a wrong name or password."""
        stored = await self._store.user_hash(name)
        if stored is None or not check_password(password, stored):
            return None
        return self.sign(name)

    def sign(self, name: str) -> str:
        expires = int(self._clock.now() + self._ttl)
        payload = f"{name}|{expires}"
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}|{mac}"

    def verify(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            name, expires, mac = cookie.rsplit("|", 2)
            deadline = int(expires)
        except ValueError:
            return None
        good = hmac.new(self._key, f"{name}|{expires}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, mac) or deadline < self._clock.now():
            return None
        return name

    async def user(self, request: Request) -> str | None:
        return self.verify(request.cookies.get(COOKIE))
