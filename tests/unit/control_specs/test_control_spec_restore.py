"""The `restore:` block of remediation.yaml, in the 0.1.4 and the legacy 0.6 form."""

from __future__ import annotations

import pytest

from selfheal.control.specs import RestorePolicy, SpecError, load_remediation
from tests.support.paths import SEED

CURRENT = (SEED / "formats" / "remediation.v0.1.4.yaml").read_text()
LEGACY = (SEED / "remediations.yaml").read_text()
BLOCK = """\
      restore:
        probe: {service: website, consecutive: 4, intervalSeconds: 2}
        steps: [80, 20, 0]
        holdSeconds: [10, 20, 30]
        maxFailureRate: 0.02
        backoff: {initialSeconds: 15, maxSeconds: 300}
        maxAttemptsPerHour: 3
        approval: true
"""


def with_block(block: str = BLOCK) -> str:
    marker = '            EnableStaticContent: "on"\n'
    return CURRENT.replace(marker, marker + block, 1)


def test_restore_block_in_v014() -> None:
    remediation = load_remediation(with_block())
    policy = remediation.restore_for("Failure rate increase")
    assert policy == RestorePolicy(
        steps=(80, 20, 0),
        hold_seconds=(10.0, 20.0, 30.0),
        max_failure_rate=0.02,
        probe_service="website",
        consecutive=4,
        probe_interval_seconds=2.0,
        backoff_initial_seconds=15.0,
        backoff_max_seconds=300.0,
        max_attempts_per_hour=3,
        approval=True,
    )
    assert remediation.restore_for("Something else") is None  # the default rule has none
    assert RestorePolicy.from_dict(policy.to_dict()) == policy


def test_restore_block_in_the_legacy_form_with_defaults() -> None:
    text = LEGACY + "  restore: {}\n"
    policy = load_remediation(text).restore_for("Failure rate increase on X")
    assert policy == RestorePolicy()
    assert policy.steps == (90, 50, 0) and policy.hold(2) == 30.0


def test_no_restore_block_means_none() -> None:
    assert load_remediation(CURRENT).restore_for("Failure rate increase") is None
    assert load_remediation(LEGACY).restore_for("Failure rate increase") is None


def test_restore_backoff_doubles_up_to_its_cap() -> None:
    policy = RestorePolicy(backoff_initial_seconds=10, backoff_max_seconds=35)
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        ("      restore: {stepz: [0]}\n", "restore.stepz", "unknown field"),
        ("      restore: {steps: [50, 60, 0]}\n", "restore.steps[1]", "go down"),
        ("      restore: {steps: [90, 50]}\n", "restore.steps[1]", "last step must be 0"),
        ("      restore: {steps: [100, 0]}\n", "restore.steps[0]", "0 to 99"),
        ("      restore: {holdSeconds: [1, 2]}\n", "restore.holdSeconds", "one hold per step"),
        ("      restore: {holdSeconds: 0}\n", "restore.holdSeconds", "greater than 0"),
        ("      restore: {maxFailureRate: 5}\n", "restore.maxFailureRate", "fraction"),
        ("      restore: {backoff: {first: 1}}\n", "restore.backoff.first", "unknown field"),
        ("      restore: {probe: {url: x}}\n", "restore.probe.url", "unknown field"),
        ("      restore: {approval: maybe}\n", "restore.approval", "true or false"),
        ("      restore: {maxAttemptsPerHour: 0}\n", "restore.maxAttemptsPerHour", "at least 1"),
    ],
)
def test_restore_block_errors_name_key_and_line(block: str, field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_remediation(with_block(block))
    error = caught.value
    assert error.field is not None and error.field.endswith(field), error.field
    assert words in error.message
    assert error.line == CURRENT.count("\n", 0, CURRENT.index('EnableStaticContent: "on"')) + 2


def test_restore_needs_a_flag_switched_on() -> None:
    text = CURRENT.replace("          value: {}\n", "          value: {}\n      restore: {}\n", 1)
    with pytest.raises(SpecError) as caught:
        load_remediation(text)
    assert "switches a flag on" in caught.value.message
