"""The action-provider seam: what the control plane asks an action to do, and what it answers.

Providers (toggle-feature, webhook, escalate, …) are registered on the `ControlService` by the
integrations context; `NoopActionProvider` ships here for tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from selfheal.control.specs import Action


class ResourceReader(Protocol):
    """Reads a file of the project as of the revision the sequence started with."""

    async def read(self, uri: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ActionRequest:
    keptn_context: str
    action_index: int
    action: Action
    project: str
    stage: str
    service: str
    problem: Mapping[str, Any]
    labels: Mapping[str, str]
    dry_run: bool
    resources: ResourceReader


@dataclass(frozen=True, slots=True)
class ActionResult:
    status: Literal["succeeded", "errored"] = "succeeded"
    result: Literal["pass", "fail"] = "pass"
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class ActionProvider(Protocol):
    """Handles the actions named in `names`; must be idempotent for one (context, index)."""

    @property
    def names(self) -> tuple[str, ...]: ...

    async def execute(self, request: ActionRequest) -> ActionResult: ...


class NoopActionProvider:
    """Does nothing and succeeds: for tests, the benchmark and dry runs of unknown actions."""

    def __init__(self, names: tuple[str, ...] = ("noop",)) -> None:
        self._names = names
        self.requests: list[ActionRequest] = []

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    async def execute(self, request: ActionRequest) -> ActionResult:
        self.requests.append(request)
        verb = "would do nothing" if request.dry_run else "did nothing"
        return ActionResult(message=f"noop {verb} for {request.action.action}")


def describe(action: Action) -> str:
    """`toggle-feature EnableStaticContent on` — an action in a few words."""
    value = action.value
    if isinstance(value, Mapping):
        detail = " ".join(f"{k} {v}" for k, v in value.items())
    elif value in (None, ""):
        detail = ""
    else:
        detail = str(value).replace(":", " ")
    return f"{action.action} {detail}".strip()


def describe_payload(raw: Mapping[str, Any]) -> str:
    return describe(action_from_payload(raw))


def action_from_payload(raw: Mapping[str, Any]) -> Action:
    """The `action` block of an event as the specs' `Action`."""
    value = raw.get("value")
    return Action(
        name=str(raw.get("name") or raw.get("action") or ""),
        action=str(raw.get("action") or ""),
        description=str(raw.get("description") or ""),
        value=value if isinstance(value, Mapping | str) else None,
    )


def action_to_payload(action: Action) -> dict[str, Any]:
    value = action.value
    return {
        "name": action.name,
        "action": action.action,
        "description": action.description,
        "value": dict(value) if isinstance(value, Mapping) else value,
    }
