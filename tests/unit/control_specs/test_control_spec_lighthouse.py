from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.control.specs import (
    Comparison,
    CriteriaSet,
    Criterion,
    Objective,
    Slo,
    default_slo,
    evaluate_slo,
    load_slo,
)
from tests.support.paths import SEED

SEED_SLO = load_slo((SEED / "formats" / "slo.yaml").read_text())


def objective(
    sli: str, passing: list[list[str]], warning: list[list[str]] = (), **kw: object
) -> Objective:  # type: ignore[assignment]
    def sets(groups: list[list[str]]) -> tuple[CriteriaSet, ...]:
        return tuple(CriteriaSet(tuple(Criterion.parse(c) for c in g)) for g in groups)

    return Objective(sli=sli, pass_criteria=sets(passing), warning_criteria=sets(warning), **kw)  # type: ignore[arg-type]


def test_seed_slo_all_pass() -> None:
    result = evaluate_slo(SEED_SLO, {"problem_open": 0, "failure_rate": 1.5})
    assert (result.score, result.result) == (100.0, "pass")
    assert [i.status for i in result.indicators] == ["pass", "pass"]


def test_warning_band_scores_half_the_weight() -> None:
    result = evaluate_slo(SEED_SLO, {"problem_open": 0, "failure_rate": 7})
    assert result.indicators[1].status == "warning"
    assert result.indicators[1].score == 0.5
    assert (result.score, result.result) == (75.0, "warning")


def test_key_sli_failure_fails_everything() -> None:
    result = evaluate_slo(SEED_SLO, {"problem_open": 1, "failure_rate": 0})
    assert result.key_sli_failed
    assert (result.score, result.result) == (50.0, "fail")


def test_missing_value_fails_the_objective() -> None:
    result = evaluate_slo(SEED_SLO, {"problem_open": 0, "failure_rate": None})
    assert result.indicators[1].status == "fail"
    assert result.result == "fail"
    payload = result.to_evaluation_payload()["indicatorResults"][1]
    assert payload["value"] == {
        "metric": "failure_rate",
        "value": 0.0,
        "success": False,
        "message": "no value received from SLI provider",
    }
    assert evaluate_slo(SEED_SLO, {"failure_rate": 0}).key_sli_failed


def test_weights() -> None:
    slo = Slo(
        objectives=(objective("a", [["<10"]], weight=3), objective("b", [["<10"]], weight=1)),
        total_pass=70,
        total_warning=50,
    )
    assert evaluate_slo(slo, {"a": 1, "b": 20}).score == 75.0
    assert evaluate_slo(slo, {"a": 1, "b": 20}).result == "pass"
    assert evaluate_slo(slo, {"a": 20, "b": 1}).result == "fail"


def test_informative_objectives_do_not_count() -> None:
    slo = Slo(objectives=(objective("a", [["<10"]]), Objective(sli="info")))
    result = evaluate_slo(slo, {"a": 1, "info": 99})
    assert result.indicators[1].status == "info"
    assert (result.score, result.result) == (100.0, "pass")
    only_info = evaluate_slo(Slo(objectives=(Objective(sli="info"),)), {"info": 1})
    assert (only_info.score, only_info.result) == (100.0, "pass")


def test_and_inside_or_between() -> None:
    slo = Slo(objectives=(objective("a", [[">=5", "<=10"], ["=100"]]),))
    assert evaluate_slo(slo, {"a": 7}).result == "pass"
    assert evaluate_slo(slo, {"a": 100}).result == "pass"
    failed = evaluate_slo(slo, {"a": 11})
    assert failed.result == "fail"
    assert [(t.criteria, t.violated) for t in failed.indicators[0].pass_targets] == [
        (">=5", False),
        ("<=10", True),
        ("=100", True),
    ]


def test_relative_criteria_use_the_previous_results() -> None:
    slo = Slo(objectives=(objective("rt", [["<=+10%", "<600"]], [["<=+20%"]]),))
    assert evaluate_slo(slo, {"rt": 500}, [{"rt": 500}]).result == "pass"
    assert evaluate_slo(slo, {"rt": 550}, [{"rt": 500}]).result == "pass"
    assert evaluate_slo(slo, {"rt": 580}, [{"rt": 500}]).indicators[0].status == "warning"
    assert evaluate_slo(slo, {"rt": 700}, [{"rt": 600}]).result == "fail"  # absolute <600 fails
    # no earlier result: relative criteria hold (lighthouse does the same)
    assert evaluate_slo(slo, {"rt": 580}).result == "pass"
    target = evaluate_slo(slo, {"rt": 550}, [{"rt": 500}]).indicators[0].pass_targets[0]
    assert target.target_value == pytest.approx(550.0)


def test_relative_absolute_step_and_decrease() -> None:
    slo = Slo(objectives=(objective("tp", [[">=-5%"]]), objective("e", [["<=+2"]])))
    result = evaluate_slo(slo, {"tp": 95, "e": 3}, [{"tp": 100, "e": 1}])
    assert [i.status for i in result.indicators] == ["pass", "pass"]
    result = evaluate_slo(slo, {"tp": 94, "e": 4}, [{"tp": 100, "e": 1}])
    assert [i.status for i in result.indicators] == ["fail", "fail"]


def test_several_results_and_aggregates() -> None:
    previous = [{"rt": 100.0}, {"rt": 200.0}, {"rt": 300.0}, {"rt": 10_000.0}]
    several = Comparison(compare_with="several_results", number_of_comparison_results=3)
    slo = Slo(objectives=(objective("rt", [["<=+0%"]]),), comparison=several)
    assert evaluate_slo(slo, {"rt": 200}, previous).result == "pass"  # avg of first 3 = 200
    assert evaluate_slo(slo, {"rt": 201}, previous).result == "fail"
    p90 = Comparison("several_results", "all", 3, "p90")
    slo90 = Slo(objectives=(objective("rt", [["<=+0%"]]),), comparison=p90)
    assert evaluate_slo(slo90, {"rt": 300}, previous).result == "pass"
    single = Slo(objectives=(objective("rt", [["<=+0%"]]),))
    assert evaluate_slo(single, {"rt": 100}, previous).result == "pass"
    assert evaluate_slo(single, {"rt": 101}, previous).result == "fail"


def test_comparison_includes() -> None:
    assert Comparison(include_result_with_score="pass").includes("pass")
    assert not Comparison(include_result_with_score="pass").includes("warning")
    assert Comparison(include_result_with_score="pass_or_warn").includes("warning")
    assert Comparison().includes("fail")


def test_default_slo_requires_the_problem_to_be_closed() -> None:
    assert evaluate_slo(default_slo(), {"problem_open": 0}).result == "pass"
    assert evaluate_slo(default_slo(), {"problem_open": 1}).result == "fail"
    assert evaluate_slo(default_slo(), {}).result == "fail"


def test_evaluation_payload_shape() -> None:
    payload = evaluate_slo(SEED_SLO, {"problem_open": 0, "failure_rate": 7}).to_evaluation_payload(
        time_start="a", time_end="b"
    )
    assert payload["result"] == "warning"
    assert payload["score"] == 75.0
    assert (payload["timeStart"], payload["timeEnd"]) == ("a", "b")
    indicator = payload["indicatorResults"][1]
    assert set(indicator) == {
        "score",
        "status",
        "value",
        "displayName",
        "keySli",
        "passTargets",
        "warningTargets",
    }
    assert indicator["warningTargets"] == [
        {"criteria": "<=10", "targetValue": 10.0, "violated": False}
    ]


_VALUES = st.dictionaries(
    st.sampled_from(["problem_open", "failure_rate"]),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)


@given(
    _VALUES,
    st.lists(st.dictionaries(st.sampled_from(["failure_rate"]), st.floats(0, 100)), max_size=3),
)
def test_score_is_bounded_and_consistent(
    values: dict[str, float | None], previous: list[dict[str, float]]
) -> None:
    result = evaluate_slo(SEED_SLO, values, previous)
    assert 0.0 <= result.score <= 100.0
    assert result.result in ("pass", "warning", "fail")
    if result.result == "pass":
        assert result.score >= SEED_SLO.total_pass
        assert not result.key_sli_failed
    for indicator in result.indicators:
        assert indicator.score in (0.0, 0.5, 1.0)
