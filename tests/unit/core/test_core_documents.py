"""The one document mechanism: pydantic models validated against line-aware nodes."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from selfheal.core import SpecError
from selfheal.core.documents import Node, parse_document, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cat(_Strict):
    kind: Literal["cat"]
    lives: int = Field(default=9, ge=1, le=9)


class Dog(_Strict):
    kind: Literal["dog"]
    # a field named like its own tag (as burn_rate in monitor.yaml): tags are never keys
    dog: str = ""


class Home(_Strict):
    name: str
    pets: list[Annotated[Cat | Dog, Field(discriminator="kind")]] = Field(default_factory=list)
    owner: Home | None = None


def fail(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        validate(Home, parse_document(text))
    return caught.value


def test_unknown_key_is_named_with_its_line_and_the_known_keys() -> None:
    error = fail("name: a\npets:\n  - kind: cat\n    live: 3\n")
    assert (error.line, error.field) == (4, "pets[0].live")
    assert error.message == "unknown field (expected one of: kind, lives)"


def test_union_tags_are_not_keys_of_the_document() -> None:
    error = fail("name: a\npets:\n  - kind: cat\n  - kind: dog\n    dog: x\n    x: 1\n")
    assert (error.line, error.field) == (6, "pets[1].x")
    assert "expected one of: dog, kind" in error.message


def test_out_of_range_missing_and_bad_tag() -> None:
    error = fail("name: a\npets:\n  - kind: cat\n    lives: 250\n")
    assert (error.line, error.field, error.message) == (
        4,
        "pets[0].lives",
        "must be less than or equal to 9",
    )
    error = fail("pets: []\n")
    assert (error.line, error.field, error.message) == (1, "name", "required")
    error = fail("name: a\npets:\n  - kind: cow\n")
    assert (error.line, error.field) == (3, "pets[0].kind")
    assert error.message == "must be one of 'cat', 'dog'"
    error = fail("name: a\nowner:\n  name: b\n  owner: {name: c, color: red}\n")
    assert (error.line, error.field) == (4, "owner.owner.color")


def test_plain_data_is_checked_the_same_way_without_lines() -> None:
    with pytest.raises(SpecError) as caught:
        validate(Home, Node.of({"name": "a", "pets": [{"kind": "cat", "lives": 0}]}, "home"))
    assert (caught.value.line, caught.value.field) == (None, "home.pets[0].lives")
    assert str(caught.value) == "field 'home.pets[0].lives': must be greater than or equal to 1"
    home = validate(Home, Node.of({"name": "a", "pets": [{"kind": "dog"}]}))
    assert isinstance(home.pets[0], Dog)
