"""`Engine.toggles` renders exactly what `evaluate` per flag, rendered as JSON, would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from selfheal.flags.engine import Engine

from .payloads import contexts, payload


def _rendered(engine: Engine, context: dict[str, Any], names: list[str]) -> str:
    toggles = []
    for name in names:
        result = engine.evaluate(name, context)
        if result.enabled:
            toggles.append(
                {
                    "name": result.name,
                    "enabled": True,
                    "variant": result.variant,
                    "impressionData": result.impression_data,
                }
            )
    return json.dumps(
        {"toggles": toggles}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )


def test_toggles_match_evaluate_on_a_generated_payload() -> None:
    state = payload(350, seed=21)
    engine = Engine(state)
    names = [feature["name"] for feature in state["features"]] + ["unknown-flag"]
    for context in contexts(40, seed=22):
        assert engine.toggles(context, names) == _rendered(engine, context, names)


def test_toggles_keep_the_order_given_and_encode_names_and_payloads() -> None:
    engine = Engine(
        {
            "features": [
                {"name": "zeta", "enabled": True, "strategies": [], "impressionData": True},
                {
                    "name": 'ähre "q"',
                    "enabled": True,
                    "strategies": [],
                    "variants": [
                        {
                            "name": "ü",
                            "weight": 1000,
                            "payload": {"type": "json", "value": '{"a": "ß"}'},
                        }
                    ],
                },
                {"name": "off", "enabled": False, "strategies": []},
            ]
        }
    )
    names = ['ähre "q"', "off", "zeta"]
    text = engine.toggles({"userId": "1"}, names)
    assert text == _rendered(engine, {"userId": "1"}, names)
    assert [toggle["name"] for toggle in json.loads(text)["toggles"]] == ['ähre "q"', "zeta"]


def test_a_payload_that_is_not_json_fails_at_render_time_as_before() -> None:
    engine = Engine(
        {
            "features": [
                {
                    "name": "nan",
                    "enabled": True,
                    "strategies": [],
                    "variants": [{"name": "v", "weight": 1000, "payload": {"value": float("nan")}}],
                }
            ]
        }
    )
    with pytest.raises(ValueError):
        engine.toggles({}, ["nan"])
