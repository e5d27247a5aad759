from __future__ import annotations

import pytest

from selfheal.control.specs import Criterion, SpecError, load_sli, load_slo
from tests.support.paths import SEED

SEED_TEXT = (SEED / "formats" / "slo.yaml").read_text()


def test_seed_slo_loads() -> None:
    slo = load_slo(SEED_TEXT)
    assert [o.sli for o in slo.objectives] == ["problem_open", "failure_rate"]
    assert slo.objectives[0].key_sli
    assert slo.comparison.include_result_with_score == "pass"
    assert (slo.total_pass, slo.total_warning) == (90.0, 75.0)


def test_unquoted_spec_version_and_defaults() -> None:
    slo = load_slo("spec_version: 1.0\nobjectives:\n  - sli: rt\n")
    assert slo.spec_version == "1.0"
    assert slo.objectives[0].informative
    assert slo.comparison.compare_with == "single_result"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("<600", ("<", 600.0, False, False, True)),
        ("<=+10%", ("<=", 10.0, True, True, True)),
        (">-5%", (">", 5.0, True, True, False)),
        ("=0", ("=", 0.0, False, False, True)),
        (">= 1.5", (">=", 1.5, False, False, True)),
        ("<10%", ("<", 10.0, True, True, True)),
    ],
)
def test_criteria(text: str, parsed: tuple[object, ...]) -> None:
    c = Criterion.parse(text)
    assert (c.operator, c.amount, c.relative, c.percent, c.increase) == parsed


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        ('["<=5"]', '["<<5"]', 19, "objectives[1].pass[0].criteria[0]", "invalid criterion"),
        ('"90%"', '"ninety"', 24, "total_score.pass", "percentage"),
        ("key_sli: true", "key_sli: maybe", 13, "objectives[0].key_sli", "true or false"),
        ("weight: 1", "weight: heavy", 22, "objectives[1].weight", "number"),
        (
            "compare_with: single_result",
            "compare_with: all",
            6,
            "comparison.compare_with",
            "one of",
        ),
        (
            "aggregate_function: avg",
            "aggregate_function: max",
            9,
            "comparison.aggregate_function",
            "one of",
        ),
        (
            "  - sli: failure_rate",
            "  - sly: failure_rate",
            16,
            "objectives[1].sly",
            "unknown field",
        ),
    ],
)
def test_broken_slo_files(old: str, new: str, line: int, field: str, message: str) -> None:
    assert old in SEED_TEXT
    with pytest.raises(SpecError) as caught:
        load_slo(SEED_TEXT.replace(old, new))
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.message


def test_sli_file() -> None:
    sli = load_sli("spec_version: '1.0'\nindicators:\n  failure_rate: 'sum(rate(x[5m]))'\n")
    assert sli.query("failure_rate") == "sum(rate(x[5m]))"
    assert sli.query("nope") is None
    with pytest.raises(SpecError) as caught:
        load_sli("spec_version: '1.0'\nindicators:\n  a: 'q'\n  b: [1]\n")
    assert (caught.value.line, caught.value.field) == (4, "indicators.b")
    with pytest.raises(SpecError) as caught:
        load_sli("indicators: {}\n")
    assert caught.value.field == "spec_version"
