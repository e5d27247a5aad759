"""Activation strategies: the built-in ones, compiled from their string parameters.

A strategy applies when its constraints, the constraints of every segment it references and
its own rule all hold. Unknown (custom) strategies are false: this engine has no code for
them, and enabling a flag for everyone because of a strategy we cannot run would be worse.
A reference to a segment the payload does not define makes the strategy false too.
Strategies marked ``disabled`` are dropped before evaluation (see `features.py`).
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mmh3

from selfheal.flags.engine.constraints import Check, compile_constraints, parse_address
from selfheal.flags.engine.context import Context, resolver
from selfheal.flags.engine.stickiness import rollout_picker
from selfheal.flags.engine.variants import VariantSet, compile_variants

Rule = Callable[[Context], bool]

BUILTIN_STRATEGIES = frozenset(
    {
        "default",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "flexibleRollout",
        "remoteAddress",
        "applicationHostname",
    }
)

_ROLLOUTS = {
    "flexibleRollout": "rollout",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
    "gradualRolloutRandom": "percentage",
}
_user_id = resolver("userId")
_session_id = resolver("sessionId")
_remote_address = resolver("remoteAddress")
_hostname = resolver("hostname")


def _always(_context: Context) -> bool:
    return True


def _never(_context: Context) -> bool:
    return False


def _percentage(value: Any) -> float:
    """A rollout percentage (0..100); fractions compare as they are, as in the Node SDK."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(number) else max(0.0, min(100.0, number))


def _csv(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _rollout(percentage: float, group: str, pick: Callable[[Context], str | None]) -> Rule:
    if percentage <= 0:
        return _never
    if percentage >= 100:
        return lambda context: pick(context) is not None
    prefix = f"{group}:"
    hash32 = mmh3.hash

    def rollout(context: Context) -> bool:
        # normalized_hash(prefix + value, 100), inlined: this runs once per flag per request.
        value = pick(context)
        return value is not None and hash32(prefix + value, 0, False) % 100 + 1 <= percentage

    return rollout


def _remote_rule(ips: list[str]) -> Rule:
    exact = frozenset(ips)
    networks = []
    for entry in ips:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue

    def remote(context: Context) -> bool:
        value = _remote_address(context)
        if not value:
            return False
        if value in exact:
            return True
        address = parse_address(value)
        return address is not None and any(address in network for network in networks)

    return remote


def compile_rule(
    name: str, parameters: Mapping[str, Any], feature: str, rng: random.Random, hostname: str
) -> Rule:
    """The rule of one strategy (without its constraints)."""
    if name == "default":
        return _always
    if name == "userWithId":
        users = frozenset(_csv(parameters.get("userIds")))
        return lambda context: _user_id(context) in users
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        pick = _user_id if name == "gradualRolloutUserId" else _session_id
        group = str(parameters.get("groupId") or feature)
        return _rollout(_percentage(parameters.get("percentage")), group, pick)
    if name == "gradualRolloutRandom":
        percentage = _percentage(parameters.get("percentage"))
        return lambda _context: percentage > 0 and rng.randint(1, 100) <= percentage
    if name == "flexibleRollout":
        group = str(parameters.get("groupId") or feature)
        pick = rollout_picker(parameters.get("stickiness"), rng)
        return _rollout(_percentage(parameters.get("rollout")), group, pick)
    if name == "remoteAddress":
        return _remote_rule(_csv(parameters.get("IPs")))
    if name == "applicationHostname":
        hosts = frozenset(host.lower() for host in _csv(parameters.get("hostNames")))
        return lambda context: (_hostname(context) or hostname).lower() in hosts
    return _never


def _conjunction(checks: tuple[Check, ...], rule: Rule) -> Rule:
    """Every check, then the rule, as one closure: the common shapes need no loop.

    Constraints come first, so a user they exclude never costs a hash.
    """
    if not checks:
        return rule
    if len(checks) == 1:
        (first,) = checks
        return lambda context: first(context) and rule(context)
    if len(checks) == 2:
        first, second = checks
        return lambda context: first(context) and second(context) and rule(context)

    def every(context: Context) -> bool:
        for check in checks:
            if not check(context):
                return False
        return rule(context)

    return every


@dataclass(frozen=True, slots=True)
class Strategy:
    """A compiled strategy: checks, rule, the variants it assigns and the OFREP reason.

    `applies(context)` is the checks and the rule fused into one closure at compile time.
    `reason` is what a match means: STATIC for an unconditional strategy, SPLIT for a
    percentage rollout, TARGETING_MATCH otherwise.
    """

    name: str
    checks: tuple[Check, ...]
    rule: Rule
    variants: VariantSet | None
    reason: str
    applies: Rule


def compile_strategy(
    definition: Mapping[str, Any],
    feature: str,
    segments: Mapping[Any, tuple[Check, ...]],
    rng: random.Random,
    hostname: str,
) -> Strategy:
    """Compile one strategy of `feature`; segment ids resolve against `segments`."""
    name = str(definition.get("name", ""))
    parameters = definition.get("parameters") or {}
    checks: list[Check] = []
    segment_ids = definition.get("segments") or ()
    for segment_id in segment_ids:
        segment = segments.get(segment_id)
        if segment is None:
            segment = segments.get(str(segment_id))
        if segment is None:
            checks = [lambda _context: False]
            break
        checks.extend(segment)
    constraints = definition.get("constraints")
    checks.extend(compile_constraints(constraints))
    rule = compile_rule(name, parameters, feature, rng, hostname)
    variants = compile_variants(
        definition.get("variants"),
        str(parameters.get("groupId") or feature),
        parameters.get("stickiness"),
        rng,
        overridable=False,
    )
    if rule is _always and not checks:
        reason = "STATIC"
    elif name in _ROLLOUTS and 0 < _percentage(parameters.get(_ROLLOUTS[name])) < 100:
        reason = "SPLIT"
    else:
        reason = "TARGETING_MATCH"
    fused = tuple(checks)
    return Strategy(name, fused, rule, variants, reason, _conjunction(fused, rule))
