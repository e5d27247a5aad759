"""Differential test: our engine agrees with Yggdrasil, Unleash's reference engine (Rust).

Yggdrasil ships with the official Python SDK (`UnleashClient`), so it is always installed. A
generated 350-flag payload is evaluated for many contexts by both engines; every answer must
match, enabled state and variant alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from selfheal.flags.engine import Engine

from .payloads import contexts, payload

yggdrasil_engine = pytest.importorskip("yggdrasil_engine.engine")


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Any, dict[str, Any]]:
    state = payload(350, seed=11)
    reference = yggdrasil_engine.UnleashEngine()
    reference.take_state(json.dumps(state))
    return Engine(state), reference, state


def test_is_enabled_matches_yggdrasil(engines: tuple[Engine, Any, dict[str, Any]]) -> None:
    ours, reference, state = engines
    mismatches = []
    for context in contexts(60, seed=5):
        for feature in state["features"]:
            name = feature["name"]
            expected = reference.check_enabled(name, context).is_enabled
            if ours.is_enabled(name, context) != expected:
                mismatches.append((name, context["userId"], expected))
    assert mismatches == []


def test_get_variant_matches_yggdrasil(engines: tuple[Engine, Any, dict[str, Any]]) -> None:
    ours, reference, state = engines
    mismatches = []
    for context in contexts(60, seed=6):
        for feature in state["features"]:
            name = feature["name"]
            expected = reference.check_variant(name, context).variant
            got = ours.get_variant(name, context)
            if (got["name"], got["enabled"], got["feature_enabled"], got.get("payload")) != (
                expected.name,
                expected.enabled,
                expected.feature_enabled,
                expected.payload,
            ):
                mismatches.append((name, context["userId"], got["name"], expected.name))
    assert mismatches == []
