from __future__ import annotations

import pytest

from selfheal.control.specs import LEGACY_EVALUATION_WAIT, SpecError, load_shipyard, parse_duration
from tests.support.paths import SEED


def test_seed_shipyard_v02_loads() -> None:
    yard = load_shipyard((SEED / "formats" / "shipyard.v0.2.yaml").read_text())
    assert yard.name == "shipyard-website"
    sequence = yard.sequence("production", "remediation")
    assert sequence is not None
    assert [t.name for t in sequence.tasks] == ["get-action", "action", "evaluation"]
    assert sequence.tasks[2].triggered_after == 600.0
    assert dict(sequence.tasks[2].properties) == {"timeframe": "10m"}
    assert yard.sequence("production", "delivery") is None
    assert yard.stage("staging") is None


def test_legacy_shipyard_synthesizes_the_remediation_sequence() -> None:
    yard = load_shipyard((SEED / "shipyard.yaml").read_text())
    assert yard.legacy
    sequence = yard.sequence("production", "remediation")
    assert sequence is not None
    assert [(t.name, t.triggered_after) for t in sequence.tasks] == [
        ("get-action", 0.0),
        ("action", 0.0),
        ("evaluation", LEGACY_EVALUATION_WAIT),
    ]
    assert load_shipyard("stages:\n  - name: dev\n").sequence("dev", "remediation") is None
    quick = load_shipyard((SEED / "shipyard.yaml").read_text(), legacy_evaluation_wait=5)
    assert quick.sequence("production", "remediation").tasks[2].triggered_after == 5  # type: ignore[union-attr]


def test_triggered_on_chaining() -> None:
    yard = load_shipyard((SEED / "formats" / "shipyard.v0.2.yaml").read_text())
    hits = yard.sequences_triggered_by("sh.keptn.event.production.remediation.finished", "fail")
    assert [(stage, seq.name) for stage, seq in hits] == [("production", "remediation")]
    assert yard.sequences_triggered_by("production.remediation.finished", "pass") == []
    assert yard.sequences_triggered_by("production.remediation.finished", None) == []
    assert yard.sequences_triggered_by("staging.delivery.finished", "fail") == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("30s", 30), ("1h30m", 5400), ("1.5h", 5400), ("0", 0), ("250ms", 0.25)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "m", "10 minutes", "-5m", "1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


HEAD = 'apiVersion: "spec.keptn.sh/0.2.2"\nkind: Shipyard\nmetadata: {name: s}\nspec:\n  stages:\n'


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        ("    - sequences: []\n", 6, "spec.stages[0].name", "required"),
        (
            "    - name: p\n      sequences:\n        - name: r\n          tasks:\n            - name: e\n              triggeredAfter: soon\n",
            11,
            "spec.stages[0].sequences[0].tasks[0].triggeredAfter",
            "invalid duration",
        ),
        (
            "    - name: p\n      sequences:\n        - name: r\n          tasks:\n            - name: e\n              triggerdAfter: 5m\n",
            11,
            "spec.stages[0].sequences[0].tasks[0].triggerdAfter",
            "unknown field",
        ),
        (
            "    - name: p\n      sequences:\n        - name: r\n          triggeredOn:\n            - event: p.r.started\n          tasks: []\n",
            10,
            "spec.stages[0].sequences[0].triggeredOn[0].event",
            "finished",
        ),
        ("    - name: p\n    - name: p\n", 7, "spec.stages[1]", "duplicate stage"),
        ("    - name: [p]\n", 6, "spec.stages[0].name", "must be a string"),
    ],
)
def test_broken_shipyards_name_line_and_field(
    body: str, line: int, field: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_shipyard(HEAD + body)
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.message
    assert str(caught.value).startswith(f"line {line}, field '{field}'")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("apiVersion: spec.keptn.sh/0.3.0\nkind: Shipyard\nspec: {stages: []}\n", "apiVersion"),
        ("apiVersion: spec.keptn.sh/0.2.0\nkind: Remediation\nspec: {stages: []}\n", "kind"),
        ("apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\n", "spec"),
        (
            "stages:\n  - name: p\n    remediation_strategy: sometimes\n",
            "stages[0].remediation_strategy",
        ),
    ],
)
def test_header_and_legacy_errors(text: str, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_shipyard(text)
    assert caught.value.field == field
