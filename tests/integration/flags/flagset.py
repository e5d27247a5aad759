"""A flag set covering every built-in strategy and every constraint operator, with the
answers an SDK must give for one context. Created through the admin API of a server."""

from __future__ import annotations

from typing import Any

import httpx

BASE = "/api/admin/projects/default/features"
ENV = "/environments/production"
CONTEXT: dict[str, Any] = {
    "userId": "u1",
    "sessionId": "s1",
    "remoteAddress": "10.1.2.3",
    "properties": {
        "tier": "gold",
        "email": "Ann@Example.com",
        "count": "5",
        "version": "2.1.0",
        "when": "2030-01-01T00:00:00Z",
    },
}

ROLL = {"rollout": "100", "stickiness": "default"}


def _c(context: str, op: str, **kw: Any) -> dict[str, Any]:
    return {"contextName": context, "operator": op, **kw}


# flag name -> (strategies, expected is_enabled for CONTEXT)
STRATEGY_FLAGS: dict[str, tuple[list[dict[str, Any]], bool]] = {
    "s-default": ([{"name": "default"}], True),
    "s-users-in": ([{"name": "userWithId", "parameters": {"userIds": "u1,u2"}}], True),
    "s-users-out": ([{"name": "userWithId", "parameters": {"userIds": "u7"}}], False),
    "s-gradual-user": (
        [{"name": "gradualRolloutUserId", "parameters": {"percentage": "100", "groupId": "g"}}],
        True,
    ),
    "s-gradual-session": (
        [{"name": "gradualRolloutSessionId", "parameters": {"percentage": "100", "groupId": "g"}}],
        True,
    ),
    "s-gradual-random": (
        [{"name": "gradualRolloutRandom", "parameters": {"percentage": "0"}}],
        False,
    ),
    "s-flexible": ([{"name": "flexibleRollout", "parameters": {**ROLL, "groupId": "g"}}], True),
    "s-flexible-zero": (
        [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": "0", "stickiness": "userId", "groupId": "g"},
            }
        ],
        False,
    ),
    "s-remote": (
        [{"name": "remoteAddress", "parameters": {"IPs": "192.168.0.1, 10.0.0.0/8"}}],
        True,
    ),
    # the SDK's own idea of its host name varies (yggdrasil ignores $HOSTNAME): expect a miss
    "s-host": (
        [{"name": "applicationHostname", "parameters": {"hostNames": "no-such-host.invalid"}}],
        False,
    ),
    "s-custom": ([{"name": "myCustomStrategy", "parameters": {"x": "1"}}], False),
    "s-disabled-strategy": (
        [
            {"name": "userWithId", "parameters": {"userIds": "nobody"}},
            {"name": "default", "disabled": True},
        ],
        False,
    ),
}

CONSTRAINT_FLAGS: dict[str, tuple[dict[str, Any], bool]] = {
    "c-in": (_c("tier", "IN", values=["gold", "silver"]), True),
    "c-not-in": (_c("tier", "NOT_IN", values=["gold"]), False),
    "c-str-contains": (_c("email", "STR_CONTAINS", values=["example"], caseInsensitive=True), True),
    "c-str-starts": (_c("email", "STR_STARTS_WITH", values=["ann"]), False),
    "c-str-ends": (_c("email", "STR_ENDS_WITH", values=[".com"]), True),
    "c-num-eq": (_c("count", "NUM_EQ", value="5"), True),
    "c-num-gt": (_c("count", "NUM_GT", value="5"), False),
    "c-num-gte": (_c("count", "NUM_GTE", value="5"), True),
    "c-num-lt": (_c("count", "NUM_LT", value="10"), True),
    "c-num-lte": (_c("count", "NUM_LTE", value="4"), False),
    "c-date-after": (_c("currentTime", "DATE_AFTER", value="2020-01-01T00:00:00Z"), True),
    "c-date-before": (_c("currentTime", "DATE_BEFORE", value="2020-01-01T00:00:00Z"), False),
    "c-semver-eq": (_c("version", "SEMVER_EQ", value="2.1.0"), True),
    "c-semver-gt": (_c("version", "SEMVER_GT", value="2.0.0"), True),
    "c-semver-lt": (_c("version", "SEMVER_LT", value="2.0.0"), False),
    "c-regex": (_c("email", "REGEX", value="^ann@", caseInsensitive=True), True),
    "c-cidr": (_c("remoteAddress", "IN_CIDR", values=["10.0.0.0/8"]), True),
    "c-inverted": (_c("tier", "IN", values=["gold"], inverted=True), False),
}


def admin(http: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    r = http.request(method, path, json=body)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def create_flag_set(http: httpx.Client) -> dict[str, bool]:
    """Create every flag (on in production) and return the expected is_enabled answers."""
    expected: dict[str, bool] = {}
    for name, (strategies, answer) in STRATEGY_FLAGS.items():
        admin(http, "POST", BASE, {"name": name})
        for s in strategies:
            admin(http, "POST", f"{BASE}/{name}{ENV}/strategies", s)
        admin(http, "POST", f"{BASE}/{name}{ENV}/on")
        expected[name] = answer
    for name, (constraint, answer) in CONSTRAINT_FLAGS.items():
        admin(http, "POST", BASE, {"name": name})
        strategy = {
            "name": "flexibleRollout",
            "parameters": {**ROLL, "groupId": name},
            "constraints": [constraint],
        }
        admin(http, "POST", f"{BASE}/{name}{ENV}/strategies", strategy)
        admin(http, "POST", f"{BASE}/{name}{ENV}/on")
        expected[name] = answer
    segment = admin(
        http,
        "POST",
        "/api/admin/segments",
        {"name": "gold", "constraints": [_c("tier", "IN", values=["gold"])]},
    )
    admin(http, "POST", BASE, {"name": "x-segment"})
    admin(
        http,
        "POST",
        f"{BASE}/x-segment{ENV}/strategies",
        {
            "name": "flexibleRollout",
            "parameters": {**ROLL, "groupId": "x"},
            "segments": [segment["id"]],
        },
    )
    admin(http, "POST", f"{BASE}/x-segment{ENV}/on")
    expected["x-segment"] = True
    admin(http, "POST", BASE, {"name": "x-off"})
    expected["x-off"] = False
    admin(http, "POST", BASE, {"name": "x-child"})
    admin(http, "POST", f"{BASE}/x-child/dependencies", {"feature": "x-off"})
    admin(http, "POST", f"{BASE}/x-child{ENV}/on")
    expected["x-child"] = False
    # variants: feature variants with an override, strategy variants with a payload
    admin(http, "POST", BASE, {"name": "v-feature"})
    admin(
        http,
        "PUT",
        f"{BASE}/v-feature{ENV}/variants",
        [
            {
                "name": "blue",
                "weight": 1000,
                "weightType": "variable",
                "stickiness": "default",
                "payload": {"type": "json", "value": '{"color": "blue"}'},
            },
            {
                "name": "special",
                "weight": 0,
                "weightType": "fix",
                "overrides": [{"contextName": "userId", "values": ["u1"]}],
            },
        ],
    )
    admin(http, "POST", f"{BASE}/v-feature{ENV}/on")
    expected["v-feature"] = True
    admin(http, "POST", BASE, {"name": "v-strategy"})
    admin(
        http,
        "POST",
        f"{BASE}/v-strategy{ENV}/strategies",
        {
            "name": "flexibleRollout",
            "parameters": {**ROLL, "groupId": "v"},
            "variants": [
                {
                    "name": "green",
                    "weight": 1000,
                    "stickiness": "default",
                    "payload": {"type": "string", "value": "go"},
                }
            ],
        },
    )
    admin(http, "POST", f"{BASE}/v-strategy{ENV}/on")
    expected["v-strategy"] = True
    return expected


EXPECTED_VARIANTS = {"v-feature": "special", "v-strategy": "green", "s-default": "disabled"}
