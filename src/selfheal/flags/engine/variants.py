"""Variants: weighted, sticky choices among a flag's (or a strategy's) variants.

An override (a context field whose value is listed on a feature variant) wins outright. Otherwise the
stickiness value is hashed with the group id (the feature name for feature variants, the
strategy's ``groupId`` for strategy variants) with seed 86028157 into ``1..total_weight`` and
the first variant whose cumulative weight reaches that bucket is chosen. The server has already
turned "fix"/"variable" weights into plain integers, so the client only sums them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from selfheal.flags.engine.context import Context, Resolver, resolver
from selfheal.flags.engine.stickiness import VARIANT_SEED, Picker, normalized_hash, variant_picker

DISABLED: Mapping[str, Any] = {
    "name": "disabled",
    "enabled": False,
    "feature_enabled": False,
    "featureEnabled": False,
}
DISABLED_IN_ENABLED: Mapping[str, Any] = {
    "name": "disabled",
    "enabled": False,
    "feature_enabled": True,
    "featureEnabled": True,
}


def encode(value: Any) -> str | None:
    """`value` as compact JSON, exactly as the HTTP layer renders it; None when it cannot be
    (a NaN in a payload), so that rendering fails where it always did: at request time."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


DISABLED_IN_ENABLED_JSON = json.dumps(dict(DISABLED_IN_ENABLED), separators=(",", ":"))


def variant_result(template: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh copy of a result, so that callers may mutate it (payload included)."""
    result = dict(template)
    payload = result.get("payload")
    if payload is not None:
        result["payload"] = dict(payload)
    return result


@dataclass(frozen=True, slots=True)
class Variant:
    """One variant: its cumulative weight bound, the result it yields and that result as JSON."""

    name: str
    upper: int
    result: Mapping[str, Any]
    encoded: str | None


@dataclass(frozen=True, slots=True)
class VariantSet:
    """The variants of a feature or strategy, ready to choose from."""

    group: str
    variants: tuple[Variant, ...]
    total: int
    pick: Picker
    overrides: tuple[tuple[Resolver, frozenset[str], Variant], ...]

    def choose(self, context: Context) -> tuple[Variant, bool]:
        """The chosen variant and whether an override (rather than the hash) chose it."""
        for field, values, variant in self.overrides:
            if field(context) in values:
                return variant, True
        seed = self.pick(context) or ""
        bucket = normalized_hash(f"{self.group}:{seed}", self.total, VARIANT_SEED)
        for variant in self.variants:
            if bucket <= variant.upper:
                return variant, False
        return self.variants[-1], False


def _weight(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def compile_variants(
    definitions: Iterable[Mapping[str, Any]] | None,
    group: str,
    stickiness: str | None,
    rng: random.Random,
    *,
    overridable: bool = True,
) -> VariantSet | None:
    """The variant set, or None when there is nothing to choose (no positive weight).

    Overrides exist on feature variants only; strategy variants ignore them, as Unleash does.
    """
    defined = [d for d in definitions or () if isinstance(d, Mapping) and d.get("name")]
    if not defined:
        return None
    upper = 0
    variants: list[Variant] = []
    overrides: list[tuple[Resolver, frozenset[str], Variant]] = []
    for definition in defined:
        upper += _weight(definition.get("weight"))
        result: dict[str, Any] = {
            "name": str(definition["name"]),
            "enabled": True,
            "feature_enabled": True,
            "featureEnabled": True,
        }
        payload = definition.get("payload")
        if isinstance(payload, Mapping):
            result["payload"] = dict(payload)
        variant = Variant(result["name"], upper, result, encode(result))
        variants.append(variant)
        for override in definition.get("overrides") or () if overridable else ():
            name = override.get("contextName")
            if isinstance(name, str):
                values = frozenset(str(v) for v in override.get("values") or ())
                overrides.append((resolver(name), values, variant))
    if upper <= 0:
        return None
    chosen = stickiness or defined[0].get("stickiness") or "default"
    return VariantSet(group, tuple(variants), upper, variant_picker(chosen, rng), tuple(overrides))
