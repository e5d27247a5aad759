from __future__ import annotations

import pytest

from selfheal.flags.api.frontend import ofrep_value
from selfheal.flags.api.guard import spec_at_least
from selfheal.flags.errors import InvalidFlagInput
from selfheal.flags.tokens import digest, kind_of, make_token, scope_of, strip


def test_scope_and_bearer() -> None:
    assert scope_of("default:production.abc") == scope_of("default:production.other")
    assert scope_of("default:production.abc").environment == "production"
    assert scope_of("plain-secret").project == "*"
    assert strip("Bearer  x.y ") == "x.y" and strip("x.y") == "x.y"


def test_token_keeps_only_a_hash() -> None:
    token = make_token("t", "client", "default:production.supersecretvalue", 0.0)
    assert token.secret_hash == digest("default:production.supersecretvalue")
    assert "supersecretvalue" not in repr(token)


def test_kinds() -> None:
    assert kind_of("backend") == "client"
    with pytest.raises(InvalidFlagInput) as err:
        kind_of("root")
    assert err.value.field == "type"


@pytest.mark.parametrize(
    ("header", "new"),
    [
        (None, False),
        ("4.1.9", False),
        ("4.2.0", True),
        ("5.0.2", True),
        ("v4.3", True),
        ("junk", False),
    ],
)
def test_client_spec_versions(header: str | None, new: bool) -> None:
    assert spec_at_least(header, (4, 2, 0)) is new


def test_ofrep_values() -> None:
    assert ofrep_value(False, {"name": "disabled", "enabled": False}) == (False, "off")
    assert ofrep_value(True, {"name": "disabled", "enabled": False}) == (True, "on")
    json_variant = {"name": "a", "enabled": True, "payload": {"type": "json", "value": '{"x": 1}'}}
    assert ofrep_value(True, json_variant) == ({"x": 1}, "a")
    number = {"name": "n", "enabled": True, "payload": {"type": "number", "value": "3"}}
    assert ofrep_value(True, number) == (3, "n")
