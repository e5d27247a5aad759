"""The Unleash client specification, every case of every vendored file.

`tests` cases check `is_enabled`, `variantTests` cases check `get_variant`; ids are
``<file>::<description>`` so that a failure names the case in the upstream repository.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from selfheal.flags.engine import Engine

SPEC = Path(__file__).parent / "unleash-client-spec"
FILES: list[str] = json.loads((SPEC / "index.json").read_text(encoding="utf-8"))


@cache
def load(filename: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPEC / filename).read_text(encoding="utf-8"))
    return data


@cache
def engine(filename: str) -> Engine:
    return Engine(load(filename)["state"], hostname="spec-host")


def cases(kind: str) -> list[Any]:
    params = []
    for filename in FILES:
        for index, case in enumerate(load(filename).get(kind, [])):
            case_id = f"{filename.removesuffix('.json')}::{index:02d}-{case['description']}"
            params.append(pytest.param(filename, case, id=case_id))
    return params


def test_every_file_is_covered() -> None:
    assert len(FILES) == 22
    assert len(cases("tests")) == 227
    assert len(cases("variantTests")) == 52


@pytest.mark.parametrize(("filename", "case"), cases("tests"))
def test_is_enabled(filename: str, case: dict[str, Any]) -> None:
    result = engine(filename).is_enabled(case["toggleName"], case["context"])
    assert result is case["expectedResult"]


@pytest.mark.parametrize(("filename", "case"), cases("variantTests"))
def test_get_variant(filename: str, case: dict[str, Any]) -> None:
    expected = case["expectedResult"]
    result = engine(filename).get_variant(case["toggleName"], case["context"])
    assert result["name"] == expected["name"]
    assert result["enabled"] is expected["enabled"]
    assert result["feature_enabled"] is expected["feature_enabled"]
    assert result["featureEnabled"] is expected["feature_enabled"]
    assert result.get("payload") == expected.get("payload")
