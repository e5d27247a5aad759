"""The `toggle-feature` action (and Keptn 0.6's `featuretoggle`): flip flags as remediation.

Values: `{EnableStaticContent: "on"}` or legacy `"EnableStaticContent:on"`; the reserved keys
`environment` and `project` in a mapping value pick where. The environment defaults to the
mapping in settings for the stage, else the stage's own name. Flags live in this process's
flags service unless a remote Unleash URL is configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from selfheal.control import ActionRequest, ActionResult
from selfheal.control.restore import SwitchMoved
from selfheal.control.specs import SpecError
from selfheal.core import CloudEvent, SelfhealError, Unavailable, pages
from selfheal.flags.errors import FlagChanged
from selfheal.flags.store import change_event
from selfheal.integrations.unleash import UnleashAdmin

log = logging.getLogger(__name__)
NAMES = ("toggle-feature", "featuretoggle")
LOCAL_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Seconds between tries of a local flag switch while the database is unavailable."""
RESERVED = ("environment", "project")
HISTORY = 50
"""How many of a flag's newest changes a restore looks through for a person's."""


class FlagSwitch(Protocol):
    """The one call this action needs from the flags service."""

    async def set_enabled(
        self, flag: str, environment: str, enabled: bool, *, project: str = ..., actor: str = ...
    ) -> bool: ...


class ToggleProvider:
    names = NAMES

    def __init__(
        self,
        *,
        local: FlagSwitch | None,
        remote: UnleashAdmin | None = None,
        environments: Mapping[str, str] | None = None,
        flag_project: str = "default",
    ) -> None:
        self._local = local
        self._remote = remote
        self._environments = dict(environments or {})
        self._flag_project = flag_project

    async def _switch_local(
        self, flag: str, environment: str, enabled: bool, project: str, request: ActionRequest
    ) -> None:
        """Switching a flag to a state is idempotent, so a database that is briefly away
        (restarting) is waited for: a few tries, 0.5 … 8 s apart, before the action errors."""
        assert self._local is not None
        for delay in (*LOCAL_RETRIES, None):
            try:
                await self._local.set_enabled(
                    flag,
                    environment,
                    enabled,
                    project=project,
                    actor=pages.ACTOR_SEQUENCE + request.keptn_context,
                )
                return
            except Unavailable as exc:
                if delay is None:
                    raise
                log.warning("switching %s: %s; trying again in %.1f s", flag, exc.message, delay)
                await asyncio.sleep(delay)

    def _where(self, request: ActionRequest) -> tuple[str, str]:
        value = request.action.value
        env = project = None
        if isinstance(value, Mapping):
            env = value.get("environment")
            project = value.get("project")
        environment = str(env or self._environments.get(request.stage) or request.stage)
        return environment, str(project or self._flag_project)

    async def execute(self, request: ActionRequest) -> ActionResult:
        action = request.action
        if isinstance(action.value, Mapping):
            kept = {k: v for k, v in action.value.items() if k not in RESERVED}
            action = replace(action, value=kept)
        try:
            changes = action.flag_changes()
        except SpecError as exc:
            return ActionResult("errored", "fail", f"invalid toggle value: {exc.message}")
        if not changes:
            return ActionResult("errored", "fail", "toggle-feature names no flag")
        environment, project = self._where(request)
        words = ", ".join(f"{f} {'on' if on else 'off'}" for f, on in changes.items())
        if request.dry_run:
            return ActionResult(message=f"would switch {words} in {environment}")
        done: dict[str, bool] = {}
        for flag, enabled in changes.items():
            problem = (
                str(request.problem.get("PID") or request.problem.get("ProblemID") or "") or None
            )
            if self._remote is not None:
                delivery = await self._remote.switch(
                    flag,
                    environment,
                    enabled,
                    project=project,
                    dedup_key=f"unleash:{request.keptn_context}:{request.action_index}:{flag}",
                    problem=problem,
                    keptn_context=request.keptn_context,
                )
                if delivery.status != "succeeded":
                    return ActionResult(
                        "errored",
                        "fail",
                        f"switching {flag} failed: {delivery.error}",
                        {"delivery": delivery.id},
                    )
            elif self._local is not None:
                try:
                    await self._switch_local(flag, environment, enabled, project, request)
                except SelfhealError as exc:
                    return ActionResult(
                        "errored", "fail", f"switching {flag} failed: {exc.message}"
                    )
            else:
                return ActionResult(
                    "errored", "fail", "no flags service or remote Unleash configured"
                )
            done[flag] = enabled
        where = "remote Unleash" if self._remote is not None else "selfheal flags"
        return ActionResult(
            message=f"switched {words} in {environment} ({where})",
            data={"flags": done, "environment": environment, "project": project},
        )


class Rollout(Protocol):
    """The flags service calls a restore needs."""

    async def set_rollout(
        self,
        flag: str,
        environment: str,
        percent: int,
        *,
        project: str = ...,
        actor: str = ...,
        expect: int | None = ...,
    ) -> bool: ...

    async def get_flag(self, name: str, project: str = ...) -> Any: ...

    async def history(
        self,
        feature: str | None = ...,
        *,
        environment: str | None = ...,
        limit: int = ...,
    ) -> list[Any]: ...


class RolloutSwitch:
    """A restore's `KillSwitch` on this process's flags service: the share of users on the
    fallback is the kill switch's gradual rollout (`flexibleRollout`, sticky per session)."""

    def __init__(self, flags: Rollout) -> None:
        self._flags = flags

    async def set_fallback(
        self,
        flag: str,
        environment: str,
        percent: int,
        *,
        project: str,
        actor: str,
        expect: int | None = None,
    ) -> None:
        try:
            await self._flags.set_rollout(
                flag, environment, percent, project=project, actor=actor, expect=expect
            )
        except FlagChanged as changed:
            raise SwitchMoved(changed.actual) from None

    async def fallback_of(self, flag: str, environment: str, *, project: str) -> int | None:
        try:
            found = await self._flags.get_flag(flag, project)
        except SelfhealError:
            return None
        return int(found.env(environment).rollout_share)

    async def person_change(
        self, flag: str, environment: str, *, project: str, automation: tuple[str, ...]
    ) -> CloudEvent | None:
        """The newest change of the flag in `environment` by an actor that is not the
        automation, read from the database's audit log (so a change made on another replica
        is seen while the bus is away) — as the change event the bus carries."""
        # in SQL: the environment (another environment's changes never crowd this one's
        # out of the window); the project stays a check here (older rows may have none)
        changes = await self._flags.history(flag, environment=environment, limit=HISTORY)
        for event in changes:
            if event.environment != environment or event.project not in (project, None):
                continue
            if str(event.created_by or "").startswith(automation):
                continue
            return change_event(event)
        return None
