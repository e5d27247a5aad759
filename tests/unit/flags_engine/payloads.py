"""Generated client API payloads and contexts: realistic mixes of every feature of the engine.

Deterministic for a seed, and free of randomness at evaluation time (every context carries a
userId, a sessionId and the custom stickiness field), so that two engines can be compared case by
case. Used by the differential test against Yggdrasil and by `bench/flags_engine.py`.
"""

from __future__ import annotations

import random
from typing import Any

OPERATOR_SAMPLES: list[tuple[str, str, list[str]]] = [
    ("IN", "environment", ["production", "staging"]),
    ("NOT_IN", "appName", ["legacy", "batch"]),
    ("STR_CONTAINS", "email", ["@example", "@test"]),
    ("STR_STARTS_WITH", "email", ["a", "b", "C"]),
    ("STR_ENDS_WITH", "email", [".com", ".ORG"]),
    ("NUM_GT", "age", ["30"]),
    ("NUM_LTE", "age", ["50.5"]),
    ("NUM_EQ", "age", ["42"]),
    ("SEMVER_GT", "version", ["1.4.0"]),
    ("SEMVER_LT", "version", ["2.0.0-rc.1"]),
    ("SEMVER_EQ", "version", ["1.10.2"]),
    ("DATE_AFTER", "currentTime", ["2024-03-01T00:00:00.000Z"]),
    ("DATE_BEFORE", "currentTime", ["2025-06-01T12:00:00+02:00"]),
    ("REGEX", "email", ["^[a-m][^@]*@example\\.(com|org)$"]),
    ("REGEX", "userId", ["^(?i)USER-1\\d*$"]),
    ("IN_CIDR", "remoteAddress", ["10.0.0.0/8", "192.168.1.0/24"]),
]
STICKINESS = ["default", "userId", "sessionId", "tenant"]


def _constraint(rng: random.Random) -> dict[str, Any]:
    operator, field, values = rng.choice(OPERATOR_SAMPLES)
    constraint: dict[str, Any] = {
        "contextName": field,
        "operator": operator,
        "inverted": rng.random() < 0.2,
        "caseInsensitive": operator.startswith("STR_") and rng.random() < 0.5,
    }
    if operator in ("IN", "NOT_IN", "IN_CIDR") or operator.startswith("STR_"):
        constraint["values"] = values
    else:
        constraint["value"] = values[0]
    return constraint


def _variants(rng: random.Random, stickiness: str | None = None) -> list[dict[str, Any]]:
    count = rng.randint(1, 4)
    variants = []
    for index in range(count):
        variant: dict[str, Any] = {
            "name": f"v{index}",
            "weight": rng.choice([100, 250, 333, 500]),
            "weightType": "variable",
            "stickiness": stickiness or rng.choice(STICKINESS),
        }
        if rng.random() < 0.7:
            variant["payload"] = {"type": "string", "value": f"value-{index}"}
        if rng.random() < 0.2:
            variant["overrides"] = [{"contextName": "userId", "values": ["user-7", "user-77"]}]
        variants.append(variant)
    return variants


def _strategy(rng: random.Random, name: str, segment_ids: list[int]) -> dict[str, Any]:
    kind = rng.choice(
        ["default", "flexibleRollout", "flexibleRollout", "userWithId", "remoteAddress"]
    )
    strategy: dict[str, Any] = {"name": kind, "parameters": {}, "constraints": []}
    if kind == "flexibleRollout":
        stickiness = rng.choice(STICKINESS)
        strategy["parameters"] = {
            "rollout": str(rng.choice([0, 10, 33, 50, 75, 100])),
            "stickiness": stickiness,
            "groupId": name,
        }
        if rng.random() < 0.3:
            strategy["variants"] = _variants(rng, stickiness)
    elif kind == "userWithId":
        strategy["parameters"] = {"userIds": ", ".join(f"user-{n}" for n in range(0, 60, 7))}
    elif kind == "remoteAddress":
        strategy["parameters"] = {"IPs": "10.1.0.0/16, 192.168.1.20, 172.16.0.1"}
    strategy["constraints"] = [_constraint(rng) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    if segment_ids and rng.random() < 0.25:
        strategy["segments"] = rng.sample(segment_ids, rng.randint(1, 2))
    return strategy


def payload(count: int = 350, seed: int = 1) -> dict[str, Any]:
    """A v2 client API payload of `count` flags."""
    rng = random.Random(seed)
    segments = [
        {"id": n, "name": f"segment-{n}", "constraints": [_constraint(rng)]} for n in range(1, 9)
    ]
    segment_ids = [segment["id"] for segment in segments]
    features: list[dict[str, Any]] = []
    parents: list[str] = []
    for index in range(count):
        name = f"flag-{index:03d}"
        feature: dict[str, Any] = {
            "name": name,
            "type": rng.choice(["release", "experiment", "kill-switch"]),
            "enabled": rng.random() < 0.9,
            "stale": False,
            "impressionData": rng.random() < 0.1,
            "strategies": [
                _strategy(rng, name, segment_ids) for _ in range(rng.choice([0, 1, 1, 2, 3]))
            ],
            "variants": _variants(rng) if rng.random() < 0.3 else [],
        }
        if parents and rng.random() < 0.1:
            dependency: dict[str, Any] = {"feature": rng.choice(parents)}
            if rng.random() < 0.3:
                dependency["enabled"] = False
            feature["dependencies"] = [dependency]
        else:
            parents.append(name)
        features.append(feature)
    return {"version": 2, "features": features, "segments": segments}


def contexts(count: int = 200, seed: int = 2) -> list[dict[str, Any]]:
    """Contexts that exercise the payload's constraints both ways."""
    rng = random.Random(seed)
    result = []
    for index in range(count):
        result.append(
            {
                "userId": rng.choice([f"user-{index}", f"USER-1{index}", "user-7"]),
                "sessionId": f"session-{rng.randint(0, 10_000)}",
                "remoteAddress": rng.choice(
                    ["10.1.2.3", "10.200.0.1", "192.168.1.20", "172.16.0.1", "8.8.8.8"]
                ),
                "environment": rng.choice(["production", "staging", "development"]),
                "appName": rng.choice(["web", "legacy", "api"]),
                "currentTime": rng.choice(
                    ["2024-01-01T00:00:00Z", "2024-12-24T18:00:00Z", "2025-07-01T00:00:00Z"]
                ),
                "properties": {
                    "email": rng.choice(
                        ["alice@example.com", "Bob@Test.org", "carol@example.ORG", "zed@x.io"]
                    ),
                    "age": str(rng.choice([18, 30, 42, 50.5, 64])),
                    "version": rng.choice(["1.3.9", "1.4.1", "1.10.2", "2.0.0-beta.3", "2.0.0"]),
                    "tenant": f"tenant-{rng.randint(0, 50)}",
                },
            }
        )
    return result
