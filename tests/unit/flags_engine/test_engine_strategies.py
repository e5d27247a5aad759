"""Built-in strategies beyond the specification's cases."""

from __future__ import annotations

import random

from selfheal.flags.engine import BUILTIN_STRATEGIES

from .factories import engine, feature, strategy


def test_builtin_strategy_names() -> None:
    assert {
        "default",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "flexibleRollout",
        "remoteAddress",
        "applicationHostname",
    } == BUILTIN_STRATEGIES


def test_unknown_strategy_is_false_but_others_still_count() -> None:
    only_custom = engine(feature(strategies=[strategy("myCustom", parameters={"a": "1"})]))
    assert only_custom.is_enabled("f", {"userId": "1"}) is False
    with_default = engine(feature(strategies=[strategy("myCustom"), strategy()]))
    assert with_default.is_enabled("f", {}) is True


def test_disabled_strategies_are_dropped_as_yggdrasil_does() -> None:
    targeted = strategy("userWithId", parameters={"userIds": "1"})
    flag = engine(feature(strategies=[strategy(disabled=True), targeted]))
    assert flag.is_enabled("f", {"userId": "1"}) is True
    assert flag.is_enabled("f", {"userId": "2"}) is False
    only_disabled = engine(feature(strategies=[{**targeted, "disabled": True}]))
    assert only_disabled.is_enabled("f", {"userId": "2"}) is True


def test_application_hostname_from_properties_or_machine() -> None:
    host = strategy("applicationHostname", parameters={"hostNames": "Web-1, web-2"})
    flags = engine(feature(strategies=[host]), hostname="elsewhere")
    assert flags.is_enabled("f", {"properties": {"hostname": "web-1"}})
    assert not flags.is_enabled("f", {})
    assert engine(feature(strategies=[host]), hostname="WEB-2").is_enabled("f", {})


def test_remote_address_accepts_cidr_ranges() -> None:
    remote = strategy("remoteAddress", parameters={"IPs": "10.0.0.0/8, 2001:db8::/32, junk"})
    flags = engine(feature(strategies=[remote]))
    assert flags.is_enabled("f", {"remoteAddress": "10.9.8.7"})
    assert flags.is_enabled("f", {"remoteAddress": "2001:db8::5"})
    assert not flags.is_enabled("f", {"remoteAddress": "192.168.0.1"})
    assert not flags.is_enabled("f", {"remoteAddress": "junk-address"})


def test_flexible_rollout_splits_users_close_to_the_percentage() -> None:
    rollout = strategy(
        "flexibleRollout", parameters={"rollout": "30", "stickiness": "userId", "groupId": "g"}
    )
    flags = engine(feature(strategies=[rollout]))
    enabled = sum(flags.is_enabled("f", {"userId": str(user)}) for user in range(10_000))
    assert 2_800 < enabled < 3_200


def test_default_stickiness_without_ids_uses_the_injected_random() -> None:
    rollout = strategy("flexibleRollout", parameters={"rollout": "50", "groupId": "g"})
    first = engine(feature(strategies=[rollout]), rng=random.Random(7))
    second = engine(feature(strategies=[rollout]), rng=random.Random(7))
    runs = [first.is_enabled("f", {}) for _ in range(50)]
    assert runs == [second.is_enabled("f", {}) for _ in range(50)]
    assert True in runs
    assert False in runs


def test_group_id_defaults_to_the_feature_name() -> None:
    explicit = strategy(
        "flexibleRollout", parameters={"rollout": "50", "stickiness": "userId", "groupId": "f"}
    )
    implicit = strategy("flexibleRollout", parameters={"rollout": "50", "stickiness": "userId"})
    a, b = engine(feature(strategies=[explicit])), engine(feature(strategies=[implicit]))
    for user in range(200):
        assert a.is_enabled("f", {"userId": str(user)}) == b.is_enabled("f", {"userId": str(user)})


def test_garbage_parameters_do_not_crash() -> None:
    flags = engine(
        feature(
            strategies=[
                {"name": "flexibleRollout", "parameters": {"rollout": "lots"}},
                {"name": "userWithId", "parameters": None, "constraints": None},
                {"name": "gradualRolloutUserId", "parameters": {"percentage": 50}},
            ]
        )
    )
    assert flags.is_enabled("f", {"userId": "1"}) in (True, False)


def test_fractional_and_nonsense_rollouts() -> None:
    def flags(rollout: str) -> list[bool]:
        parameters = {"rollout": rollout, "stickiness": "userId", "groupId": "g"}
        one = engine(feature(strategies=[strategy("flexibleRollout", parameters=parameters)]))
        return [one.is_enabled("f", {"userId": str(user)}) for user in range(2_000)]

    assert not any(flags("nan"))
    assert not any(flags("lots"))
    assert all(flags("1e9"))
    assert sum(flags("49")) <= sum(flags("49.5")) <= sum(flags("50"))
