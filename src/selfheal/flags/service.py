"""FlagsService: every change to flags goes through here, becomes an audit event in the
database and a CloudEvent on the bus, and moves the snapshot SDKs are served from.

A change is committed in one transaction with its audit event and its CloudEvent's outbox row
(`SqlFlagStore`, given the event store), and served by this replica at once; the CloudEvent
is then handed to the bus, waiting for that at most `publish_wait` seconds and not at all
while the bus is failing (the event log's `degraded`); what the bus does not take, the outbox
relay publishes. A flip is the kill switch: it must answer while NATS is down, and other
replicas pick it up from the database anyway (`RevisionWatcher`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from selfheal.core import Clock, Conflict, new_id
from selfheal.flags import validation as v
from selfheal.flags.errors import (
    EnvironmentNotFound,
    FlagChanged,
    FlagExists,
    FlagNotFound,
    InvalidFlagInput,
    ProjectNotFound,
    StrategyNotFound,
)
from selfheal.flags.model import AuditEvent, Flag, FlagEnvironment, Strategy
from selfheal.flags.snapshot import Snapshot
from selfheal.flags.store import Audit, SqlFlagStore, change_event
from selfheal.runtime import EventLog

log = logging.getLogger(__name__)
Listener = Callable[[Snapshot, Snapshot], Awaitable[None]]


class FlagsService:
    """The flags context's public service (also what the HTTP layer and the UI call)."""

    def __init__(
        self,
        store: SqlFlagStore,
        events: EventLog,
        clock: Clock,
        *,
        projects: Iterable[str] = ("default",),
        environments: Iterable[str] = ("development", "production"),
        default_environment: str = "production",
        publish_wait: float = 0.02,
    ) -> None:
        self.store = store
        self.publish_wait = publish_wait
        self._publishing: set[asyncio.Future[object]] = set()
        self.events = events
        self.clock = clock
        self.projects = tuple(projects)
        self.environments = tuple(environments)
        self.default_environment = default_environment
        self.snapshot = Snapshot.of([], [], 0)
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()

    # snapshot ---------------------------------------------------------------------------
    def on_snapshot(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def refresh(self, revision: int | None = None) -> Snapshot:
        """Reload from the database unless the snapshot already has `revision`."""
        async with self._lock:
            if revision is not None and self.snapshot.revision >= revision:
                return self.snapshot
            flags, segments, rev = await self.store.load()
            old = self.snapshot
            if rev == old.revision and revision is not None:
                return old
            self.snapshot = Snapshot.of(flags, segments, rev)
        for listener in self._listeners:
            await listener(old, self.snapshot)
        return self.snapshot

    async def _publish(self, event: AuditEvent) -> None:
        """Put the change's CloudEvent on the bus: committed with the change when the store
        has an outbox (then only released here), else stored and published now. Waits at
        most `publish_wait`, and not at all while the bus is known to be failing."""
        cloud = change_event(event)
        if self.store.outbox is not None:
            if self.events.degraded:
                # the relay publishes it from the outbox once the bus is back
                return
            publish: Awaitable[object] = self.events.released([cloud])
        else:
            publish = self.events.publish(cloud)
        task = asyncio.ensure_future(publish)
        self._publishing.add(task)
        task.add_done_callback(self._published)
        done, _ = await asyncio.wait({task}, timeout=self.publish_wait)
        if not done:
            log.warning(
                "publishing %s is slow (bus down?); answering without waiting for it", cloud.type
            )

    def _published(self, task: asyncio.Future[object]) -> None:
        self._publishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("publishing a flag event failed: %s", task.exception())

    @property
    def publishing(self) -> int:
        """Change events still on their way to the event log."""
        return len(self._publishing)

    async def drain(self, timeout: float) -> None:
        """Give publishes still in flight up to `timeout` seconds (shutdown)."""
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=timeout)

    async def _done(self, event: AuditEvent | None, flag: Flag | None = None) -> None:
        if event is None:
            return
        if flag is None or not await self._apply(flag, event.id):
            await self.refresh(event.id)
        await self._publish(event)

    async def _apply(self, flag: Flag, revision: int) -> bool:
        """Serve one changed flag without reloading every flag from the database, when the
        snapshot is the revision just before this change (nothing else changed meanwhile);
        False otherwise (then `refresh` reloads)."""
        async with self._lock:
            old = self.snapshot
            if old.revision != revision - 1:
                return False
            flags = [f for f in old.flags.values() if f.name != flag.name]
            self.snapshot = Snapshot.of([*flags, flag], list(old.segments.values()), revision)
        for listener in self._listeners:
            await listener(old, self.snapshot)
        return True

    async def record(self, audit: Audit) -> AuditEvent:
        """An audit event that changes no flag (tokens, users): stored and published."""
        event = await self.store.record(audit)
        await self._publish(event)
        return event

    # checks -----------------------------------------------------------------------------
    def check_project(self, project: str) -> str:
        if project not in self.projects:
            raise ProjectNotFound(f"no project {project!r}")
        return project

    def check_environment(self, environment: str) -> str:
        if environment not in self.environments:
            raise EnvironmentNotFound(f"no environment {environment!r}")
        return environment

    def audit(self, type: str, actor: str, flag: Flag | None, **kw: Any) -> Audit:
        return Audit(
            type=type,
            created_by=actor,
            created_at=self.clock.now(),
            project=flag.project if flag else kw.pop("project", None),
            feature=flag.name if flag else kw.pop("feature", None),
            **kw,
        )

    # flags ------------------------------------------------------------------------------
    async def get_flag(
        self, name: str, project: str = "default", *, archived: bool = False
    ) -> Flag:
        flag = await self.store.get(project, name)
        if flag is None or (flag.archived and not archived):
            raise FlagNotFound(f"no flag {name!r} in project {project!r}")
        return flag

    async def list_flags(
        self, project: str | None = None, *, archived: bool = False, search: str = ""
    ) -> list[Flag]:
        flags, _segments, _rev = await self.store.load()
        needle = search.lower()
        return sorted(
            (
                f
                for f in flags
                if f.archived == archived
                and (project is None or f.project == project)
                and (needle in f.name.lower() or needle in (f.description or "").lower())
            ),
            key=lambda f: f.name,
        )

    async def create_flag(
        self,
        name: str,
        *,
        project: str = "default",
        type: str = "release",
        description: str | None = None,
        impression_data: bool = False,
        actor: str = "admin",
    ) -> Flag:
        self.check_project(project)
        flag = Flag(
            name=v.name(name),
            project=project,
            type=v.flag_type(type),
            description=description,
            impression_data=impression_data,
            created_at=self.clock.now(),
            environments={e: FlagEnvironment() for e in self.environments},
        )
        if await self.store.flag_project(flag.name) is not None:
            raise FlagExists(f"a flag named {flag.name!r} exists already (maybe archived)")

        def change(before: Flag | None) -> tuple[Flag, Audit | None]:
            if before is not None:
                raise FlagExists(f"a flag named {flag.name!r} exists already")
            return flag, self.audit("feature-created", actor, flag, data=flag.to_dict())

        await self._done(await self.store.mutate(project, flag.name, change), flag)
        return flag

    async def _change(
        self,
        project: str,
        name: str,
        fn: Callable[[Flag], Flag],
        type: str,
        actor: str,
        *,
        environment: str | None = None,
        archived: bool = False,
    ) -> Flag:
        """Apply `fn` to a live (or, with `archived`, an archived) flag and audit the result."""
        self.check_project(project)
        result: list[Flag] = []

        def change(before: Flag | None) -> tuple[Flag, Audit | None]:
            if before is None or before.archived != archived:
                state = "archived " if archived else ""
                raise FlagNotFound(f"no {state}flag {name!r} in project {project!r}")
            after = fn(before)
            result.append(after)
            if after == before:
                return before, None
            return after, self.audit(
                type,
                actor,
                after,
                environment=environment,
                pre_data=before.to_dict(),
                data=after.to_dict(),
            )

        event = await self.store.mutate(project, name, change)
        await self._done(event, result[0] if result else None)
        return result[0]

    async def update_flag(
        self, name: str, fields: dict[str, Any], *, project: str = "default", actor: str = "admin"
    ) -> Flag:
        """Metadata: description, type, impressionData, stale."""
        updates: dict[str, Any] = {}
        if "description" in fields:
            updates["description"] = v.string(fields["description"], "description", optional=True)
        if "type" in fields:
            updates["type"] = v.flag_type(fields["type"])
        if "impressionData" in fields:
            updates["impression_data"] = v.boolean(fields["impressionData"], "impressionData")
        if "stale" in fields:
            updates["stale"] = v.boolean(fields["stale"], "stale")
        return await self._change(
            project, name, lambda f: replace(f, **updates), "feature-metadata-updated", actor
        )

    async def set_enabled(
        self,
        flag: str,
        environment: str,
        enabled: bool,
        *,
        project: str = "default",
        actor: str = "system",
    ) -> bool:
        """Turn a flag on or off in one environment; True if that changed anything."""
        self.check_environment(environment)
        before = self.snapshot.flags.get(flag)
        was = before.env(environment).enabled if before else None

        def fn(f: Flag) -> Flag:
            env = replace(f.env(environment), enabled=enabled)
            return replace(f, environments={**f.environments, environment: env})

        kind = "feature-environment-enabled" if enabled else "feature-environment-disabled"
        after = await self._change(project, flag, fn, kind, actor, environment=environment)
        return was != enabled if before is not None else after.env(environment).enabled == enabled

    async def set_rollout(
        self,
        flag: str,
        environment: str,
        percent: int,
        *,
        project: str = "default",
        actor: str = "system",
        expect: int | None = None,
    ) -> bool:
        """A kill switch's share of users, as one change: 0 switches the flag off, 1-100
        switches it on for that share through Unleash's `flexibleRollout` (sticky per
        `sessionId`, grouped by the flag's name). Its `default`/`flexibleRollout` strategies
        keep their constraints and segments (a probe-bypass constraint stays in force);
        other strategies are left alone. True if that changed anything.

        With `expect`, a compare-and-set: the flag's share (`FlagEnvironment.rollout_share`)
        is read in the write's own transaction (the row locked on PostgreSQL) and, if it is
        not `expect`, nothing is written and `FlagChanged` says what it is — so a change
        someone made since the caller looked is never overwritten."""
        if not 0 <= percent <= 100:
            raise InvalidFlagInput("must be from 0 to 100", field="percent")
        self.check_environment(environment)
        rollout = str(percent or 100)
        params = {"rollout": rollout, "stickiness": "sessionId", "groupId": flag}

        def fn(f: Flag) -> Flag:
            env = f.env(environment)
            if expect is not None and env.rollout_share != expect:
                raise FlagChanged(
                    f"flag {flag!r} in {environment!r} holds {env.rollout_share} %, not the"
                    f" expected {expect} %: changed meanwhile",
                    actual=env.rollout_share,
                )
            strategies = tuple(
                replace(s, name="flexibleRollout", parameters={**s.parameters, **params})
                if s.name in ("default", "flexibleRollout")
                else s
                for s in env.strategies
            )
            if not strategies:
                strategies = (Strategy(id=new_id(), name="flexibleRollout", parameters=params),)
            env = replace(env, enabled=percent > 0, strategies=strategies)
            return replace(f, environments={**f.environments, environment: env})

        before = self.snapshot.flags.get(flag)
        old = before.env(environment) if before is not None else None
        kind = "feature-environment-enabled" if percent > 0 else "feature-environment-disabled"
        if old is not None and old.enabled == (percent > 0):
            kind = "feature-strategy-update"
        after = await self._change(project, flag, fn, kind, actor, environment=environment)
        return old != after.env(environment)

    async def bulk_set_enabled(
        self, names: list[str], environment: str, enabled: bool, *, project: str, actor: str
    ) -> None:
        for name in names:
            await self.get_flag(name, project)
        for name in names:
            await self.set_enabled(name, environment, enabled, project=project, actor=actor)

    async def archive(self, name: str, *, project: str = "default", actor: str = "admin") -> Flag:
        dependents = [
            f.name
            for f in self.snapshot.flags.values()
            if any(d.feature == name for d in f.dependencies)
        ]
        if dependents:
            raise Conflict(f"flag {name!r} is a dependency of {', '.join(dependents)}")
        return await self._change(
            project, name, lambda f: replace(f, archived=True), "feature-archived", actor
        )

    async def revive(self, name: str, *, project: str = "default", actor: str = "admin") -> Flag:
        return await self._change(
            project,
            name,
            lambda f: replace(f, archived=False),
            "feature-revived",
            actor,
            archived=True,
        )

    # strategies -------------------------------------------------------------------------
    def _segment_ids(self) -> set[int]:
        return set(self.snapshot.segments)

    async def add_strategy(
        self,
        flag: str,
        environment: str,
        raw: Any,
        *,
        project: str = "default",
        actor: str = "admin",
    ) -> Strategy:
        self.check_environment(environment)
        await self.refresh()
        strategy = v.strategy(raw, self._segment_ids())

        def fn(f: Flag) -> Flag:
            env = f.env(environment)
            s = strategy
            if "sortOrder" not in (raw or {}):
                s = replace(s, sort_order=len(env.strategies))
            env = replace(env, strategies=(*env.strategies, s))
            return replace(f, environments={**f.environments, environment: env})

        after = await self._change(
            project, flag, fn, "feature-strategy-add", actor, environment=environment
        )
        return after.env(environment).strategies[-1]

    async def update_strategy(
        self,
        flag: str,
        environment: str,
        strategy_id: str,
        raw: Any,
        *,
        project: str = "default",
        actor: str = "admin",
    ) -> Strategy:
        self.check_environment(environment)
        await self.refresh()
        strategy = v.strategy(raw, self._segment_ids(), id=strategy_id)

        def fn(f: Flag) -> Flag:
            env = f.env(environment)
            if not any(s.id == strategy_id for s in env.strategies):
                raise StrategyNotFound(
                    f"no strategy {strategy_id!r} on {flag!r} in {environment!r}"
                )
            strategies = tuple(strategy if s.id == strategy_id else s for s in env.strategies)
            env = replace(env, strategies=strategies)
            return replace(f, environments={**f.environments, environment: env})

        await self._change(
            project, flag, fn, "feature-strategy-update", actor, environment=environment
        )
        return strategy

    async def delete_strategy(
        self,
        flag: str,
        environment: str,
        strategy_id: str,
        *,
        project: str = "default",
        actor: str = "admin",
    ) -> None:
        self.check_environment(environment)

        def fn(f: Flag) -> Flag:
            env = f.env(environment)
            kept = tuple(s for s in env.strategies if s.id != strategy_id)
            if len(kept) == len(env.strategies):
                raise StrategyNotFound(
                    f"no strategy {strategy_id!r} on {flag!r} in {environment!r}"
                )
            return replace(
                f, environments={**f.environments, environment: replace(env, strategies=kept)}
            )

        await self._change(
            project, flag, fn, "feature-strategy-remove", actor, environment=environment
        )

    async def set_variants(
        self,
        flag: str,
        environments: list[str],
        raw: Any,
        *,
        project: str = "default",
        actor: str = "admin",
    ) -> Flag:
        for e in environments:
            self.check_environment(e)
        variants = v.variants(raw, "variants")

        def fn(f: Flag) -> Flag:
            envs = dict(f.environments)
            for e in environments:
                envs[e] = replace(f.env(e), variants=variants)
            return replace(f, environments=envs)

        env = environments[0] if len(environments) == 1 else None
        return await self._change(
            project, flag, fn, "feature-environment-variants-updated", actor, environment=env
        )

    # dependencies -----------------------------------------------------------------------
    async def add_dependency(
        self, child: str, raw: Any, *, project: str = "default", actor: str = "admin"
    ) -> Flag:
        dep = v.dependency(raw)
        await self.refresh()
        parent = self.snapshot.flags.get(dep.feature)
        if dep.feature == child:
            raise InvalidFlagInput("a flag cannot depend on itself", field="feature")
        if parent is None:
            raise InvalidFlagInput(f"no flag {dep.feature!r} to depend on", field="feature")
        if parent.dependencies:
            raise InvalidFlagInput(
                f"{dep.feature!r} has dependencies itself (one level only)", field="feature"
            )

        def fn(f: Flag) -> Flag:
            kept = tuple(d for d in f.dependencies if d.feature != dep.feature)
            return replace(f, dependencies=(*kept, dep))

        return await self._change(project, child, fn, "feature-dependency-added", actor)

    async def delete_dependency(
        self, child: str, parent: str | None, *, project: str = "default", actor: str = "admin"
    ) -> Flag:
        def fn(f: Flag) -> Flag:
            kept = tuple(d for d in f.dependencies if parent is not None and d.feature != parent)
            return replace(f, dependencies=kept)

        return await self._change(project, child, fn, "feature-dependency-removed", actor)

    async def history(
        self,
        feature: str | None = None,
        *,
        actors: tuple[str, ...] | None = None,
        environment: str | None = None,
        project: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest first, of one flag and/or by some actors (`remediation:<context>`, …),
        optionally of one environment and project."""
        return await self.store.audit(
            feature=feature, actors=actors, environment=environment, project=project, limit=limit
        )
