"""One revision of the flag set, and the bytes SDKs get for it.

`/api/client/features` is the hot path, so a snapshot renders each (scope, segment style)
body once, with its ETag, and the HTTP layer only copies bytes. An evaluation engine per
environment is built lazily and kept with the snapshot for the frontend API and OFREP.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from selfheal.flags.model import Flag, Segment, Strategy, Variant

if TYPE_CHECKING:
    from selfheal.flags.engine import Engine


@dataclass(frozen=True, slots=True)
class Scope:
    """What a token (and the query string) may see: projects ('*' = all) in one environment."""

    projects: tuple[str, ...]
    environment: str
    name_prefix: str = ""

    def sees(self, flag: Flag) -> bool:
        return ("*" in self.projects or flag.project in self.projects) and flag.name.startswith(
            self.name_prefix
        )


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    etag: str


def _variant(v: Variant, *, strategy: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "weight": v.weight,
        "weightType": v.weight_type,
        "stickiness": v.stickiness,
    }
    if v.payload is not None:
        out["payload"] = dict(v.payload)
    if v.overrides and not strategy:
        out["overrides"] = [{"contextName": c, "values": list(vs)} for c, vs in v.overrides]
    return out


def _strategy(s: Strategy, segments: dict[int, Segment] | None) -> dict[str, Any]:
    constraints = [c.to_dict() for c in s.constraints]
    out: dict[str, Any] = {"id": s.id, "name": s.name}
    if s.title:
        out["title"] = s.title
    out["sortOrder"] = s.sort_order
    if segments is None:
        out["segments"] = list(s.segments)
    else:
        for sid in s.segments:
            segment = segments.get(sid)
            if segment is not None:
                constraints.extend(c.to_dict() for c in segment.constraints)
    out["constraints"] = constraints
    out["parameters"] = dict(s.parameters)
    out["variants"] = [_variant(v, strategy=True) for v in s.variants]
    return out


def client_feature(
    flag: Flag, environment: str, segments: dict[int, Segment] | None = None
) -> dict[str, Any]:
    """A flag as Unleash's client API v2 shows it; `segments` given means 'inline them'."""
    env = flag.env(environment)
    strategies = sorted((s for s in env.strategies if not s.disabled), key=lambda s: s.sort_order)
    out: dict[str, Any] = {
        "name": flag.name,
        "type": flag.type,
        "description": flag.description,
        "project": flag.project,
        "enabled": env.enabled,
        "stale": flag.stale,
        "impressionData": flag.impression_data,
        "strategies": [_strategy(s, segments) for s in strategies],
        "variants": [_variant(v) for v in env.variants],
    }
    if flag.dependencies:
        out["dependencies"] = [d.to_dict() for d in flag.dependencies]
    return out


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Snapshot:
    revision: int
    flags: dict[str, Flag]
    segments: dict[int, Segment]
    _bodies: dict[tuple[Scope, bool], Body] = field(default_factory=dict)
    _features: dict[tuple[Scope, bool], list[dict[str, Any]]] = field(default_factory=dict)
    _engines: dict[Scope, Engine] = field(default_factory=dict)
    _enabled: dict[Scope, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, flags: list[Flag], segments: list[Segment], revision: int) -> Snapshot:
        live = {f.name: f for f in sorted(flags, key=lambda f: f.name) if not f.archived}
        return cls(revision, live, {s.id: s for s in segments})

    def features(self, scope: Scope, inline: bool = False) -> list[dict[str, Any]]:
        key = (scope, inline)
        cached = self._features.get(key)
        if cached is None:
            segs = self.segments if inline else None
            cached = [
                client_feature(f, scope.environment, segs)
                for f in self.flags.values()
                if scope.sees(f)
            ]
            self._features[key] = cached
        return cached

    def enabled_names(self, scope: Scope) -> list[str]:
        """The flags switched on in the scope's environment, in payload order (the frontend API
        lists only enabled flags, so the rest need no evaluation)."""
        found = self._enabled.get(scope)
        if found is None:
            found = self._enabled[scope] = [f["name"] for f in self.features(scope) if f["enabled"]]
        return found

    def segment_list(self) -> list[dict[str, Any]]:
        return [
            {"id": s.id, "name": s.name, "constraints": [c.to_dict() for c in s.constraints]}
            for s in sorted(self.segments.values(), key=lambda s: s.id)
        ]

    def query_hash(self, scope: Scope, inline: bool) -> str:
        text = f"{','.join(scope.projects)}|{scope.environment}|{scope.name_prefix}|{inline}"
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def etag(self, scope: Scope, inline: bool) -> str:
        return f'"{self.query_hash(scope, inline)}:{self.revision}:v1"'

    def payload(self, scope: Scope, inline: bool = False) -> dict[str, Any]:
        """The v2 body as a dict (what the engine is built from when `inline` is False)."""
        body: dict[str, Any] = {"version": 2, "features": self.features(scope, inline)}
        if not inline:
            body["segments"] = self.segment_list()
        body["query"] = {
            "project": list(scope.projects),
            "environment": scope.environment,
            "inlineSegmentConstraints": inline,
        }
        if scope.name_prefix:
            body["query"]["namePrefix"] = scope.name_prefix
        body["meta"] = {
            "revisionId": self.revision,
            "etag": self.etag(scope, inline),
            "queryHash": self.query_hash(scope, inline),
        }
        return body

    def body(self, scope: Scope, inline: bool = False) -> Body:
        key = (scope, inline)
        found = self._bodies.get(key)
        if found is None:
            found = Body(_dumps(self.payload(scope, inline)), self.etag(scope, inline))
            self._bodies[key] = found
        return found

    def hydration(self, scope: Scope) -> dict[str, Any]:
        """The delta API's first event: the full state."""
        return {
            "events": [
                {
                    "type": "hydration",
                    "eventId": self.revision,
                    "features": self.features(scope),
                    "segments": self.segment_list(),
                }
            ]
        }

    def delta_since(self, old: Snapshot, scope: Scope) -> dict[str, Any] | None:
        """What changed for `scope` between `old` and this snapshot, as delta events."""
        before = {f["name"]: f for f in old.features(scope)}
        after = {f["name"]: f for f in self.features(scope)}
        events: list[dict[str, Any]] = []
        rev = self.revision
        old_segs = {s["id"]: s for s in old.segment_list()}
        for seg in self.segment_list():
            if old_segs.get(seg["id"]) != seg:
                events.append({"type": "segment-updated", "eventId": rev, "segment": seg})
        for name, feature in after.items():
            if before.get(name) != feature:
                events.append({"type": "feature-updated", "eventId": rev, "feature": feature})
        for name, feature in before.items():
            if name not in after:
                events.append(
                    {
                        "type": "feature-removed",
                        "eventId": rev,
                        "featureName": name,
                        "project": feature["project"],
                    }
                )
        new_ids = {s.id for s in self.segments.values()}
        for sid in old_segs:
            if sid not in new_ids:
                events.append({"type": "segment-removed", "eventId": rev, "segmentId": sid})
        return {"events": events} if events else None

    def engine(self, scope: Scope) -> Engine:
        found = self._engines.get(scope)
        if found is None:
            from selfheal.flags.engine import Engine

            found = Engine(self.payload(scope))
            self._engines[scope] = found
        return found
