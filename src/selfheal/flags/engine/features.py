"""Features: a flag of the client API payload compiled for evaluation.

Strategies marked ``disabled`` are dropped, as Yggdrasil (the engine inside the official SDKs)
does; a feature left without strategies is then on for everyone, so whoever serves the
payload should not send an enabled feature whose strategies are all disabled.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfheal.flags.engine.constraints import Check
from selfheal.flags.engine.strategies import Strategy, compile_strategy
from selfheal.flags.engine.variants import VariantSet, compile_variants, encode


@dataclass(frozen=True, slots=True)
class Dependency:
    """A parent the feature needs: enabled (optionally with one of `variants`) or disabled."""

    feature: str
    enabled: bool
    variants: frozenset[str]


@dataclass(frozen=True, slots=True)
class Feature:
    """A compiled flag.

    `toggle_prefix` and `toggle_suffix` are the frontend API's JSON for the flag around its
    variant: a toggle depends only on the variant, so it is rendered once, not per request.
    """

    name: str
    enabled: bool
    strategies: tuple[Strategy, ...]
    variants: VariantSet | None
    dependencies: tuple[Dependency, ...]
    impression_data: bool
    flag_type: str
    toggle_prefix: str
    toggle_suffix: str


def _dependencies(definitions: Any) -> tuple[Dependency, ...]:
    dependencies = []
    for definition in definitions or ():
        if not isinstance(definition, Mapping) or not definition.get("feature"):
            continue
        dependencies.append(
            Dependency(
                feature=str(definition["feature"]),
                enabled=definition.get("enabled") is not False,
                variants=frozenset(str(v) for v in definition.get("variants") or ()),
            )
        )
    return tuple(dependencies)


def compile_feature(
    definition: Mapping[str, Any],
    segments: Mapping[Any, tuple[Check, ...]],
    rng: random.Random,
    hostname: str,
) -> Feature:
    """Compile one feature of the payload against the payload's segments."""
    name = str(definition.get("name", ""))
    strategies = tuple(
        compile_strategy(strategy, name, segments, rng, hostname)
        for strategy in definition.get("strategies") or ()
        if isinstance(strategy, Mapping) and not strategy.get("disabled")
    )
    impression_data = bool(definition.get("impressionData"))
    return Feature(
        name=name,
        enabled=bool(definition.get("enabled")),
        strategies=strategies,
        variants=compile_variants(definition.get("variants"), name, None, rng),
        dependencies=_dependencies(definition.get("dependencies")),
        impression_data=impression_data,
        flag_type=str(definition.get("type") or "release"),
        toggle_prefix=f'{{"name":{encode(name)},"enabled":true,"variant":',
        toggle_suffix=f',"impressionData":{"true" if impression_data else "false"}}}',
    )
