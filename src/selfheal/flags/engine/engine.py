"""The evaluation engine: a client API payload compiled once, evaluated many times.

`Engine(payload)` parses every strategy, constraint, regex, network and version up front, so
that `is_enabled` and `get_variant` do dictionary lookups, a hash and a few comparisons. An
engine is immutable: when the flags change, build a new one and swap the reference (readers
of the old one finish undisturbed). Evaluation never raises on odd input; see
`constraints.py` for how invalid definitions and context values resolve.

Reasons (OpenFeature/OFREP) reported by `evaluate`:

- ``ERROR``: the flag does not exist (``exists`` is False; OFREP says FLAG_NOT_FOUND).
- ``DISABLED``: the flag is switched off.
- ``DEFAULT``: the flag is on but no strategy applied or a parent dependency is unmet,
  so the default (off) is served.
- ``STATIC``: on for everyone (no strategies, or an unconditional ``default`` strategy).
- ``SPLIT``: a percentage rollout included the user, or the variant came from the weights.
- ``TARGETING_MATCH``: constraints, segments, user lists, addresses or a variant override
  decided it.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from selfheal.flags.engine.constraints import Check, compile_constraints
from selfheal.flags.engine.context import Values, values_of
from selfheal.flags.engine.delta import apply_delta
from selfheal.flags.engine.features import Feature, compile_feature
from selfheal.flags.engine.strategies import Strategy
from selfheal.flags.engine.variants import (
    DISABLED,
    DISABLED_IN_ENABLED,
    DISABLED_IN_ENABLED_JSON,
    VariantSet,
    variant_result,
)

Context = Mapping[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """The full answer for one flag, for the frontend API and OFREP."""

    name: str
    exists: bool
    enabled: bool
    variant: dict[str, Any]
    reason: str
    impression_data: bool
    flag_type: str


def _machine_hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname()


class Engine:
    """Evaluates the flags of one Unleash client API payload (v1 or v2, or a delta)."""

    __slots__ = ("_features", "_names")

    def __init__(
        self,
        payload: Mapping[str, Any],
        *,
        rng: random.Random | None = None,
        hostname: str | None = None,
    ) -> None:
        events = payload.get("events")
        if events is not None and "features" not in payload:
            payload = apply_delta(None, events)
        chance = rng or random.Random()
        host = hostname if hostname is not None else _machine_hostname()
        segments: dict[Any, tuple[Check, ...]] = {}
        for segment in payload.get("segments") or ():
            if isinstance(segment, Mapping) and "id" in segment:
                segments[segment["id"]] = compile_constraints(segment.get("constraints"))
        features: dict[str, Feature] = {}
        for definition in payload.get("features") or ():
            if not isinstance(definition, Mapping) or not definition.get("name"):
                continue
            if definition.get("archived"):
                continue
            feature = compile_feature(definition, segments, chance, host)
            features[feature.name] = feature
        self._features = features
        self._names = list(features)

    def names(self) -> list[str]:
        """Every flag the engine knows, in payload order."""
        return list(self._names)

    def _parents_ok(self, feature: Feature, context: Values) -> bool:
        """Whether every dependency holds; parents may not have parents of their own."""
        for dependency in feature.dependencies:
            parent = self._features.get(dependency.feature)
            if parent is None or parent.dependencies:
                return False
            strategy = _resolve(parent, context)
            enabled = strategy is not None
            if not dependency.enabled:
                if enabled:
                    return False
            elif not enabled:
                return False
            elif dependency.variants:
                name = _variant(parent, strategy, context)[0]["name"]
                if name not in dependency.variants:
                    return False
        return True

    def _match(self, feature: Feature, context: Values) -> Strategy | bool | None:
        """The strategy that enabled the feature (True when it has none), else None."""
        if not feature.enabled:
            return None
        if feature.dependencies and not self._parents_ok(feature, context):
            return None
        return _resolve(feature, context)

    def is_enabled(self, name: str, context: Context, *, fallback: bool = False) -> bool:
        """Whether flag `name` is on for `context`; `fallback` when the flag is unknown."""
        feature = self._features.get(name)
        if feature is None:
            return fallback
        return self._match(feature, values_of(context)) is not None

    def get_variant(self, name: str, context: Context) -> dict[str, Any]:
        """The variant for `context`, in the client specification's shape."""
        feature = self._features.get(name)
        if feature is None:
            return dict(DISABLED)
        values = values_of(context)
        strategy = self._match(feature, values)
        if strategy is None:
            return dict(DISABLED)
        return variant_result(_variant(feature, strategy, values)[0])

    def evaluate(self, name: str, context: Context) -> Evaluation:
        """Enabled state, variant and reason of one flag."""
        feature = self._features.get(name)
        if feature is None:
            return Evaluation(name, False, False, dict(DISABLED), "ERROR", False, "release")
        return self._evaluate(feature, values_of(context))

    def evaluate_all(self, context: Context) -> list[Evaluation]:
        """Every flag, for the frontend API and OFREP bulk evaluation."""
        values = values_of(context)
        return [self._evaluate(feature, values) for feature in self._features.values()]

    def toggles(self, context: Context, names: Iterable[str]) -> str:
        """The frontend API's ``{"toggles":[…]}`` JSON: those of `names` that are on, in order.

        The same text as rendering `evaluate` for each name (unknown and off flags are left
        out), built from each flag's pre-encoded JSON, with no per-flag objects in between.
        Raises ValueError when a chosen variant's payload is not JSON (a NaN), as rendering
        it would.
        """
        features = self._features
        values = values_of(context)
        parts = []
        for name in names:
            feature = features.get(name)
            if feature is None or not feature.enabled:
                continue
            if feature.dependencies and not self._parents_ok(feature, values):
                continue
            strategy: Strategy | bool | None = True
            if feature.strategies:  # _resolve, inlined: this loop is the frontend API's cost
                strategy = None
                for candidate in feature.strategies:
                    if candidate.applies(values):
                        strategy = candidate
                        break
                if strategy is None:
                    continue
            variants = _variants_of(feature, strategy)
            encoded = (
                DISABLED_IN_ENABLED_JSON if variants is None else variants.choose(values)[0].encoded
            )
            if encoded is None:
                raise ValueError(f"flag {name!r}: the variant's payload is not valid JSON")
            parts.append(feature.toggle_prefix + encoded + feature.toggle_suffix)
        return '{"toggles":[' + ",".join(parts) + "]}"

    def _evaluate(self, feature: Feature, context: Values) -> Evaluation:
        strategy = self._match(feature, context)
        if strategy is None:
            reason = "DEFAULT" if feature.enabled else "DISABLED"
            return Evaluation(
                feature.name,
                True,
                False,
                dict(DISABLED),
                reason,
                feature.impression_data,
                feature.flag_type,
            )
        template, reason = _variant(feature, strategy, context)
        return Evaluation(
            feature.name,
            True,
            True,
            variant_result(template),
            reason,
            feature.impression_data,
            feature.flag_type,
        )


def _resolve(feature: Feature, context: Values) -> Strategy | bool | None:
    """The strategy enabling an on feature, True when it has none, None when it is off."""
    if not feature.enabled:
        return None
    if not feature.strategies:
        return True
    for strategy in feature.strategies:
        if strategy.applies(context):
            return strategy
    return None


def _variant(
    feature: Feature, strategy: Strategy | bool | None, context: Values
) -> tuple[Mapping[str, Any], str]:
    """The variant template of an enabled feature and the reason behind the evaluation."""
    reason = strategy.reason if isinstance(strategy, Strategy) else "STATIC"
    variants = _variants_of(feature, strategy)
    if variants is None:
        return DISABLED_IN_ENABLED, reason
    variant, overridden = variants.choose(context)
    if overridden:
        return variant.result, "TARGETING_MATCH"
    if len(variants.variants) > 1:
        return variant.result, "SPLIT"
    return variant.result, reason


def _variants_of(feature: Feature, strategy: Strategy | bool | None) -> VariantSet | None:
    """The variants an enabled feature chooses from: the strategy's, else the feature's."""
    if isinstance(strategy, Strategy):
        return strategy.variants or feature.variants
    return feature.variants
