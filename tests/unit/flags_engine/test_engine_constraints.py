"""Constraint operators beyond the specification: invalid input never crashes, it is false."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from selfheal.flags.engine import OPERATORS

from .factories import constraint, with_constraints


def props(**values: object) -> dict[str, object]:
    return {"properties": values}


def test_operators_cover_the_specification() -> None:
    expected = {
        "IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH",
        "NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE", "DATE_AFTER", "DATE_BEFORE",
        "SEMVER_EQ", "SEMVER_GT", "SEMVER_GTE", "SEMVER_LT", "SEMVER_LTE", "REGEX", "IN_CIDR",
    }  # fmt: skip
    assert expected == OPERATORS


@pytest.mark.parametrize("inverted", [False, True])
def test_invalid_regex_is_false_whatever_inverted_says(inverted: bool) -> None:
    engine = with_constraints(constraint("REGEX", "(unclosed", inverted=inverted))
    assert engine.is_enabled("f", props(field="(unclosed")) is False


@pytest.mark.parametrize("inverted", [False, True])
def test_unknown_operator_is_false(inverted: bool) -> None:
    engine = with_constraints(constraint("LIKE", ["x"], inverted=inverted))
    assert engine.is_enabled("f", props(field="x")) is False


def test_missing_operator_or_context_name_is_false() -> None:
    assert with_constraints({"values": ["x"], "contextName": "field"}).is_enabled("f", {}) is False
    assert with_constraints({"operator": "IN", "values": ["x"]}).is_enabled("f", {}) is False


@pytest.mark.parametrize("bad", ["yesterday", "", "2022-13-45T00:00:00Z"])
def test_unparsable_constraint_date_is_false(bad: str) -> None:
    for inverted in (False, True):
        engine = with_constraints(
            constraint("DATE_AFTER", bad, field="currentTime", inverted=inverted)
        )
        assert engine.is_enabled("f", {"currentTime": "2022-01-01T00:00:00Z"}) is False


def test_unparsable_context_date_fails_the_operator() -> None:
    engine = with_constraints(
        constraint("DATE_BEFORE", "2999-01-01T00:00:00Z", field="currentTime")
    )
    assert engine.is_enabled("f", {"currentTime": "soon"}) is False
    assert engine.is_enabled("f", {"currentTime": "2022-01-01T00:00:00Z"}) is True


def test_missing_current_time_means_now() -> None:
    after_2000 = with_constraints(
        constraint("DATE_AFTER", "2000-01-01T00:00:00Z", field="currentTime")
    )
    assert after_2000.is_enabled("f", {}) is True


def test_current_time_may_be_a_datetime_and_naive_means_utc() -> None:
    engine = with_constraints(constraint("DATE_AFTER", "2022-01-01T12:00:00", field="currentTime"))
    plus_two = timezone(timedelta(hours=2))
    assert engine.is_enabled("f", {"currentTime": datetime(2022, 1, 1, 13, 0, tzinfo=UTC)})
    assert not engine.is_enabled("f", {"currentTime": datetime(2022, 1, 1, 13, 0, tzinfo=plus_two)})


def test_numbers_accept_non_string_context_values_and_reject_garbage() -> None:
    engine = with_constraints(constraint("NUM_GT", "12"))
    assert engine.is_enabled("f", props(field=13)) is True
    assert engine.is_enabled("f", props(field=12.5)) is True
    assert engine.is_enabled("f", props(field="twelve")) is False
    assert engine.is_enabled("f", {}) is False
    assert with_constraints(constraint("NUM_GT", "many")).is_enabled("f", props(field=1)) is False


def test_missing_field_with_inverted_string_operator_is_true() -> None:
    engine = with_constraints(constraint("STR_CONTAINS", ["x"], inverted=True))
    assert engine.is_enabled("f", {}) is True


def test_custom_fields_are_read_from_properties_then_the_top_level() -> None:
    engine = with_constraints(constraint("IN", ["eu"], field="region"))
    assert engine.is_enabled("f", props(region="eu"))
    assert engine.is_enabled("f", {"region": "eu"})
    assert not engine.is_enabled("f", {"region": "us"})


def test_standard_fields_fall_back_to_properties() -> None:
    engine = with_constraints(constraint("IN", ["prod"], field="environment"))
    assert engine.is_enabled("f", props(environment="prod"))


def test_in_is_case_sensitive_but_string_operators_can_fold() -> None:
    assert not with_constraints(constraint("IN", ["Prod"], caseInsensitive=True)).is_enabled(
        "f", props(field="prod")
    )
    folded = with_constraints(constraint("STR_CONTAINS", ["PRO"], caseInsensitive=True))
    assert folded.is_enabled("f", props(field="xprodx"))


def test_single_value_operators_accept_a_values_list() -> None:
    engine = with_constraints(constraint("SEMVER_GTE", ["1.0.0"], field="version"))
    assert engine.is_enabled("f", props(version="1.0.1"))
    assert not engine.is_enabled("f", props(version="0.9.9"))


def test_invalid_semver_definition_is_false() -> None:
    engine = with_constraints(constraint("SEMVER_LT", "latest", field="version", inverted=True))
    assert engine.is_enabled("f", props(version="1.0.0")) is False


def test_cidr_ignores_invalid_entries_and_context_values() -> None:
    engine = with_constraints(
        constraint("IN_CIDR", ["nonsense", "10.0.0.0/8"], field="remoteAddress")
    )
    assert engine.is_enabled("f", {"remoteAddress": "10.1.2.3"})
    assert not engine.is_enabled("f", {"remoteAddress": "not-an-ip"})
    assert not engine.is_enabled("f", {"remoteAddress": "::1"})
    assert not with_constraints(constraint("IN_CIDR", ["x"], field="remoteAddress")).is_enabled(
        "f", {"remoteAddress": "10.1.2.3"}
    )
    inverted = constraint("IN_CIDR", ["x"], field="remoteAddress", inverted=True)
    assert with_constraints(inverted).is_enabled("f", {"remoteAddress": "10.1.2.3"})


def test_null_values_in_a_list_are_ignored() -> None:
    engine = with_constraints({"contextName": "field", "operator": "IN", "values": [None, "a"]})
    assert engine.is_enabled("f", props(field="a"))
    assert not engine.is_enabled("f", {})
