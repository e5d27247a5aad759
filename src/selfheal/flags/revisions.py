"""The database path that makes every replica converge without the bus.

The bus brings a flag change to other replicas within milliseconds, but only while NATS is
up and their consumers exist. The flag audit log's highest sequence number is the revision
every change bumps (tokens included), so each replica also reads it every `interval` seconds
(one indexed `max(seq)`), and when it moved: reloads the snapshot (which pushes SSE deltas
through the service's snapshot listeners) and reloads the token cache (a revoked token stops
working here too). Bus and poll may both see a change; both paths are idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.exc import SQLAlchemyError

from selfheal.core import Clock
from selfheal.flags.service import FlagsService
from selfheal.flags.tokens import TokenAuthenticator

log = logging.getLogger(__name__)


class RevisionWatcher:
    """Polls the flag revision from the database; see the module docstring."""

    def __init__(
        self,
        service: FlagsService,
        auth: TokenAuthenticator,
        clock: Clock,
        *,
        interval: float = 1.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._service = service
        self._auth = auth
        self._clock = clock
        self.interval = interval
        self.database_revision = 0
        """The newest revision the last successful poll read."""
        self.checked_at: float | None = None
        """Clock time of the last successful poll (None before the first)."""
        self.tokens_revision = 0
        self._task: asyncio.Task[None] | None = None
        registry = registry or CollectorRegistry()
        lag = Gauge(
            "selfheal_flags_revision_lag",
            "Flag revisions in the database this replica does not serve yet (0 = current)",
            registry=registry,
        )
        lag.set_function(lambda: float(self.lag))
        age = Gauge(
            "selfheal_flags_revision_check_age_seconds",
            "Seconds since this replica last read the flag revision from the database",
            registry=registry,
        )
        age.set_function(lambda: self.age if self.age is not None else -1.0)

    @property
    def lag(self) -> int:
        return max(0, self.database_revision - self._service.snapshot.revision)

    @property
    def age(self) -> float | None:
        return None if self.checked_at is None else max(0.0, self._clock.now() - self.checked_at)

    def status(self) -> dict[str, object]:
        """For /readyz: what this replica serves against what the database has."""
        age = self.age
        return {
            "revision": self._service.snapshot.revision,
            "database_revision": self.database_revision,
            "behind": self.lag,
            "checked_seconds_ago": None if age is None else round(age, 3),
        }

    async def check(self) -> bool:
        """One poll; True if the revision had moved (snapshot and tokens reloaded)."""
        revision = await self._service.store.revision()
        self.database_revision = max(self.database_revision, revision)
        self.checked_at = self._clock.now()
        moved = False
        if revision > self.tokens_revision:
            # token changes are audit events too: any move may be a revocation elsewhere
            await self._auth.reset()
            self.tokens_revision = revision
            moved = True
        if revision > self._service.snapshot.revision:
            await self._service.refresh(revision)
            log.info("flag revision %d picked up from the database", revision)
            moved = True
        return moved

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, OSError) as exc:  # database down: keep serving, retry
                log.warning("flag revision poll failed: %s", exc)
            await self._clock.sleep(self.interval)

    def start(self, revision: int) -> None:
        """Poll from now on; `revision` is what the caller loaded (snapshot and tokens)."""
        self.tokens_revision = max(self.tokens_revision, revision)
        self.database_revision = max(self.database_revision, revision)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="flags-revision-poll"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
