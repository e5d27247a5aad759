"""The engine's public surface: evaluations, reasons, variants, dependencies, payload forms."""

from __future__ import annotations

from selfheal.flags.engine import Engine, Evaluation, apply_delta

from .factories import constraint, engine, feature, strategy

VARIANTS = [
    {"name": "a", "weight": 500, "payload": {"type": "json", "value": "{}"}},
    {"name": "b", "weight": 500},
]


def test_unknown_flag_uses_the_fallback_and_reports_error() -> None:
    flags = engine()
    assert flags.is_enabled("nope", {}, fallback=True) is True
    assert flags.is_enabled("nope", {}) is False
    result = flags.evaluate("nope", {})
    assert result.exists is False
    assert result.reason == "ERROR"
    assert result.variant["name"] == "disabled"


def test_reasons() -> None:
    rollout = strategy("flexibleRollout", parameters={"rollout": "100", "stickiness": "userId"})
    half = strategy("flexibleRollout", parameters={"rollout": "50", "stickiness": "userId"})
    targeted = strategy(constraints=[constraint("IN", ["1"], field="userId")])
    flags = engine(
        feature("off", enabled=False),
        feature("nobody", strategies=[targeted]),
        feature("static", strategies=[]),
        feature("default", strategies=[strategy()]),
        feature("targeted", strategies=[targeted]),
        feature("everyone", strategies=[rollout]),
        feature("half", strategies=[half]),
        feature("split", variants=VARIANTS),
    )
    reasons = {e.name: e.reason for e in flags.evaluate_all({"userId": "1"})}
    assert reasons["off"] == "DISABLED"
    assert reasons["static"] == "STATIC"
    assert reasons["default"] == "STATIC"
    assert reasons["targeted"] == "TARGETING_MATCH"
    assert reasons["everyone"] == "TARGETING_MATCH"
    assert reasons["split"] == "SPLIT"
    assert flags.evaluate("nobody", {"userId": "2"}).reason == "DEFAULT"
    enabled_half = [u for u in range(20) if flags.is_enabled("half", {"userId": str(u)})]
    assert flags.evaluate("half", {"userId": str(enabled_half[0])}).reason == "SPLIT"


def test_override_reason_is_targeting_match() -> None:
    variants = [dict(VARIANTS[0], overrides=[{"contextName": "userId", "values": ["7"]}])]
    flags = engine(feature(variants=[*variants, VARIANTS[1]]))
    result = flags.evaluate("f", {"userId": "7"})
    assert result.variant["name"] == "a"
    assert result.reason == "TARGETING_MATCH"


def test_evaluation_carries_metadata() -> None:
    flags = engine(feature("x", impressionData=True, type="kill-switch"))
    assert flags.evaluate("x", {}) == Evaluation(
        name="x",
        exists=True,
        enabled=True,
        variant={
            "name": "disabled",
            "enabled": False,
            "feature_enabled": True,
            "featureEnabled": True,
        },
        reason="STATIC",
        impression_data=True,
        flag_type="kill-switch",
    )


def test_variants_are_fresh_copies() -> None:
    flags = engine(feature(variants=[VARIANTS[0]]))
    first = flags.get_variant("f", {})
    first["payload"]["value"] = "changed"
    first["name"] = "changed"
    again = flags.get_variant("f", {})
    assert again["name"] == "a"
    assert again["payload"] == {"type": "json", "value": "{}"}


def test_zero_weights_mean_no_variant() -> None:
    flags = engine(feature(variants=[{"name": "a", "weight": 0}]))
    assert flags.get_variant("f", {})["name"] == "disabled"
    assert flags.get_variant("f", {})["feature_enabled"] is True


def test_variant_distribution_follows_weights() -> None:
    weighted = [{"name": "a", "weight": 200}, {"name": "b", "weight": 800}]
    flags = engine(feature(variants=weighted))
    names = [flags.get_variant("f", {"userId": str(u)})["name"] for u in range(5_000)]
    assert 800 < names.count("a") < 1_200


def test_names_and_evaluate_all_skip_archived_flags() -> None:
    flags = engine(feature("a"), feature("b", archived=True), feature("c", enabled=False))
    assert flags.names() == ["a", "c"]
    assert [e.name for e in flags.evaluate_all({})] == ["a", "c"]


def test_missing_segment_makes_the_strategy_false() -> None:
    segment = {"id": 1, "constraints": [constraint("IN", ["x"])]}
    flags = engine(
        feature("ok", strategies=[strategy(segments=[1])]),
        feature("gone", strategies=[strategy(segments=[2])]),
        segments=[segment],
    )
    assert flags.is_enabled("ok", {"properties": {"field": "x"}})
    assert not flags.is_enabled("ok", {})
    assert not flags.is_enabled("gone", {"properties": {"field": "x"}})


def test_dependency_on_a_variant_of_the_parent() -> None:
    flags = engine(
        feature("parent", variants=[{"name": "blue", "weight": 1}]),
        feature("child", dependencies=[{"feature": "parent", "variants": ["blue"]}]),
        feature("other", dependencies=[{"feature": "parent", "variants": ["red"]}]),
    )
    assert flags.is_enabled("child", {})
    assert not flags.is_enabled("other", {})
    assert flags.evaluate("other", {}).reason == "DEFAULT"


def test_v1_payload_without_segments_and_odd_entries() -> None:
    flags = Engine({"version": 1, "features": [feature("a"), "junk", {"enabled": True}]})
    assert flags.names() == ["a"]
    assert Engine({}).names() == []


def test_delta_payloads_fold_into_state() -> None:
    events = [
        {"type": "hydration", "features": [feature("a"), feature("b")], "segments": []},
        {"type": "feature-removed", "featureName": "a"},
        {"type": "segment-updated", "segment": {"id": 3, "constraints": []}},
        {"type": "segment-removed", "segmentId": 3},
        {"type": "something-new"},
    ]
    assert Engine({"events": events}).names() == ["b"]
    state = apply_delta({"features": [feature("z")]}, events[1:])
    assert [f["name"] for f in state["features"]] == ["z"]
    assert state["segments"] == []


def test_default_variant_stickiness_falls_back_to_the_remote_address() -> None:
    flags = engine(feature(variants=VARIANTS))
    context = {"remoteAddress": "192.0.2.1"}
    assert len({flags.get_variant("f", context)["name"] for _ in range(20)}) == 1
