from __future__ import annotations

import pytest

from selfheal.control.specs import Action, SpecError, load_remediation
from tests.support.paths import SEED

CURRENT = (SEED / "formats" / "remediation.v0.1.4.yaml").read_text()


def test_seed_remediation_v014() -> None:
    remediation = load_remediation(CURRENT)
    (toggle,) = remediation.actions_for("Failure rate increase")
    assert (toggle.name, toggle.action) == ("Toggle feature flag", "toggle-feature")
    assert toggle.flag_changes() == {"EnableStaticContent": True}
    (escalate,) = remediation.actions_for("Response time degradation")
    assert escalate.action == "escalate"
    # an exact title only: the current format does not prefix-match
    assert remediation.actions_for("Failure rate increase on X")[0].action == "escalate"


def test_legacy_remediations_prefix_match_and_featuretoggle() -> None:
    remediation = load_remediation((SEED / "remediations.yaml").read_text())
    assert remediation.legacy
    (action,) = remediation.actions_for("Failure rate increase on Web request service")
    assert action.action == "toggle-feature"
    assert action.flag_changes() == {"EnableStaticContent": True}
    assert remediation.actions_for("Memory leak") == ()


def test_matching_order_root_cause_title_prefix_default() -> None:
    text = """
apiVersion: spec.keptn.sh/0.2.0
kind: Remediation
spec:
  remediations:
    - problemType: default
      actionsOnOpen: [{action: d}]
    - problemType: Failure rate increase
      actionsOnOpen: [{action: title}]
    - problemType: Disk full
      actionsOnOpen: [{action: cause}, {action: second}]
"""
    remediation = load_remediation(text)
    assert [a.action for a in remediation.actions_for("Failure rate increase", "Disk full")] == [
        "cause",
        "second",
    ]
    assert remediation.actions_for("Failure rate increase", "Other")[0].action == "title"
    assert remediation.actions_for("Nope")[0].action == "d"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"EnableStaticContent": "on"}, {"EnableStaticContent": True}),
        ({"A": "off", "B": True, "C": False}, {"A": False, "B": True, "C": False}),
        ("EnableStaticContent:on", {"EnableStaticContent": True}),
        ("A:off, B:on", {"A": False, "B": True}),
        (None, {}),
    ],
)
def test_flag_changes(value: object, expected: dict[str, bool]) -> None:
    assert Action("n", "toggle-feature", value=value).flag_changes() == expected  # type: ignore[arg-type]


def test_bare_yaml_booleans_are_flag_states() -> None:
    text = CURRENT.replace('EnableStaticContent: "on"', "EnableStaticContent: on")
    (action,) = load_remediation(text).actions_for("Failure rate increase")
    assert action.flag_changes() == {"EnableStaticContent": True}


HEAD = "apiVersion: spec.keptn.sh/0.1.4\nkind: Remediation\nmetadata:\n  name: r\nspec:\n  remediations:\n"


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        (
            "    - problemType: x\n      actionsOnOpen:\n        - name: a\n",
            9,
            "spec.remediations[0].actionsOnOpen[0].action",
            "required",
        ),
        (
            "    - problemType: x\n      actionsOnOpen:\n        - action: toggle-feature\n          value: {Flag: maybe}\n",
            10,
            "spec.remediations[0].actionsOnOpen[0].value",
            "neither on nor off",
        ),
        (
            "    - problemType: x\n      actionsOnOpen:\n        - action: toggle-feature\n",
            9,
            "spec.remediations[0].actionsOnOpen[0]",
            "at least one flag",
        ),
        ("    - actionsOnOpen: []\n", 7, "spec.remediations[0].problemType", "required"),
        (
            "    - problemType: x\n      actionOnOpen: []\n",
            8,
            "spec.remediations[0].actionOnOpen",
            "unknown field",
        ),
        ("    problemType: x\n", 6, "spec.remediations", "must be a list"),
    ],
)
def test_broken_remediations(body: str, line: int, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_remediation(HEAD + body)
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.message


def test_legacy_bad_value_and_unknown_version() -> None:
    with pytest.raises(SpecError) as caught:
        load_remediation(
            "remediations:\n- name: x\n  actions:\n  - action: featuretoggle\n    value: Flag\n"
        )
    assert (caught.value.line, caught.value.field) == (5, "remediations[0].actions[0].value")
    with pytest.raises(SpecError, match="unsupported apiVersion"):
        load_remediation(CURRENT.replace("0.1.4", "0.9.0"))
