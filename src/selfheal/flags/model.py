"""Domain objects of the flags context: plain dataclasses, no SQL, no pydantic.

Strategy parameters are strings and constraint/variant shapes follow Unleash's client API,
so the dicts these objects turn into are also what the store keeps and the SDKs read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLAG_TYPES = ("release", "experiment", "operational", "kill-switch", "permission")
DEFAULT_PROJECT = "default"
DEFAULT_ENVIRONMENTS = ("development", "production")


@dataclass(frozen=True, slots=True)
class Constraint:
    context_name: str
    operator: str
    values: tuple[str, ...] = ()
    value: str | None = None
    inverted: bool = False
    case_insensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "contextName": self.context_name,
            "operator": self.operator,
            "values": list(self.values),
            "inverted": self.inverted,
            "caseInsensitive": self.case_insensitive,
        }
        if self.value is not None:
            out["value"] = self.value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Constraint:
        return cls(
            context_name=d["contextName"],
            operator=d["operator"],
            values=tuple(d.get("values") or ()),
            value=d.get("value"),
            inverted=bool(d.get("inverted", False)),
            case_insensitive=bool(d.get("caseInsensitive", False)),
        )


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: int = 0
    weight_type: str = "variable"
    stickiness: str = "default"
    payload: dict[str, str] | None = None
    overrides: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "weight": self.weight,
            "weightType": self.weight_type,
            "stickiness": self.stickiness,
        }
        if self.payload is not None:
            out["payload"] = dict(self.payload)
        if self.overrides:
            out["overrides"] = [
                {"contextName": name, "values": list(values)} for name, values in self.overrides
            ]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Variant:
        return cls(
            name=d["name"],
            weight=int(d.get("weight", 0)),
            weight_type=d.get("weightType", "variable"),
            stickiness=d.get("stickiness", "default"),
            payload=dict(d["payload"]) if d.get("payload") else None,
            overrides=tuple(
                (o["contextName"], tuple(o.get("values") or ())) for o in d.get("overrides") or ()
            ),
        )


@dataclass(frozen=True, slots=True)
class Strategy:
    id: str
    name: str
    parameters: dict[str, str] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    segments: tuple[int, ...] = ()
    variants: tuple[Variant, ...] = ()
    disabled: bool = False
    title: str | None = None
    sort_order: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "disabled": self.disabled,
            "sortOrder": self.sort_order,
            "parameters": dict(self.parameters),
            "constraints": [c.to_dict() for c in self.constraints],
            "segments": list(self.segments),
            "variants": [v.to_dict() for v in self.variants],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Strategy:
        return cls(
            id=d["id"],
            name=d["name"],
            parameters={str(k): str(v) for k, v in (d.get("parameters") or {}).items()},
            constraints=tuple(Constraint.from_dict(c) for c in d.get("constraints") or ()),
            segments=tuple(int(s) for s in d.get("segments") or ()),
            variants=tuple(Variant.from_dict(v) for v in d.get("variants") or ()),
            disabled=bool(d.get("disabled", False)),
            title=d.get("title"),
            sort_order=int(d.get("sortOrder", 0)),
        )


@dataclass(frozen=True, slots=True)
class Dependency:
    feature: str
    enabled: bool = True
    variants: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature, "enabled": self.enabled}
        if self.variants:
            out["variants"] = list(self.variants)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dependency:
        return cls(
            feature=d["feature"],
            enabled=bool(d.get("enabled", True)),
            variants=tuple(d.get("variants") or ()),
        )


@dataclass(frozen=True, slots=True)
class FlagEnvironment:
    """A flag's state in one environment: on/off, ordered strategies, feature variants."""

    enabled: bool = False
    strategies: tuple[Strategy, ...] = ()
    variants: tuple[Variant, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "strategies": [s.to_dict() for s in self.strategies],
            "variants": [v.to_dict() for v in self.variants],
        }

    @property
    def rollout_share(self) -> int:
        """The share of users a kill switch holds on its fallback here: 0 when off, the
        `rollout` of its first enabled `flexibleRollout` strategy, otherwise 100."""
        if not self.enabled:
            return 0
        for strategy in self.strategies:
            if strategy.name == "flexibleRollout" and not strategy.disabled:
                try:
                    return int(strategy.parameters.get("rollout", "100"))
                except ValueError:
                    return 100
        return 100

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlagEnvironment:
        return cls(
            enabled=bool(d.get("enabled", False)),
            strategies=tuple(Strategy.from_dict(s) for s in d.get("strategies") or ()),
            variants=tuple(Variant.from_dict(v) for v in d.get("variants") or ()),
        )


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    project: str = DEFAULT_PROJECT
    type: str = "release"
    description: str | None = None
    impression_data: bool = False
    stale: bool = False
    archived: bool = False
    created_at: float = 0.0
    environments: dict[str, FlagEnvironment] = field(default_factory=dict)
    dependencies: tuple[Dependency, ...] = ()

    def env(self, name: str) -> FlagEnvironment:
        return self.environments.get(name) or FlagEnvironment()

    def to_dict(self) -> dict[str, Any]:
        """The stored document and the admin API's view of a flag."""
        return {
            "name": self.name,
            "project": self.project,
            "type": self.type,
            "description": self.description,
            "impressionData": self.impression_data,
            "stale": self.stale,
            "archived": self.archived,
            "createdAt": self.created_at,
            "environments": [
                {"name": name, **env.to_dict()} for name, env in sorted(self.environments.items())
            ],
            "dependencies": [d.to_dict() for d in self.dependencies],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Flag:
        return cls(
            name=d["name"],
            project=d.get("project", DEFAULT_PROJECT),
            type=d.get("type", "release"),
            description=d.get("description"),
            impression_data=bool(d.get("impressionData", False)),
            stale=bool(d.get("stale", False)),
            archived=bool(d.get("archived", False)),
            created_at=float(d.get("createdAt", 0.0)),
            environments={
                e["name"]: FlagEnvironment.from_dict(e) for e in d.get("environments") or ()
            },
            dependencies=tuple(Dependency.from_dict(x) for x in d.get("dependencies") or ()),
        )


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    name: str
    constraints: tuple[Constraint, ...] = ()
    description: str | None = None
    project: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "project": self.project,
            "constraints": [c.to_dict() for c in self.constraints],
        }


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An issued token; only the hash of its secret is kept."""

    name: str
    kind: str  # "admin" | "client" | "frontend"
    project: str
    environment: str
    secret_hash: str
    created_at: float
    prefix: str = ""  # the non-secret `project:env.` part and a few characters, for display


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    type: str
    created_by: str
    created_at: float
    project: str | None = None
    feature: str | None = None
    environment: str | None = None
    pre_data: Any = None
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "project": self.project,
            "featureName": self.feature,
            "environment": self.environment,
            "preData": self.pre_data,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class MetricsBucket:
    """Yes/no evaluation counts of one flag reported by SDKs in one time bucket."""

    feature: str
    app_name: str
    environment: str
    start: int
    yes: int
    no: int
