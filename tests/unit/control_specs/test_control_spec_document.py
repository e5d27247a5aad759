from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.control.specs import (
    SpecError,
    load_remediation,
    load_shipyard,
    load_sli,
    load_slo,
    load_webhook,
    validate_resource,
)
from selfheal.core.documents import parse_document

LOADERS = (load_shipyard, load_remediation, load_slo, load_sli, load_webhook)


def test_nodes_remember_lines_and_paths() -> None:
    root = parse_document("a:\n  b:\n    - x: 1\n    - y: [2, 3]\n")
    item = root.require("a").require("b").sequence()[1].require("y").sequence()[1]
    assert (item.value, item.line, item.path) == (3, 4, "a.b[1].y[1]")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: [1, 2\nb: 3\n", 2),
        ("a: 1\n  b: 2\n", 2),
        ("a: 'unterminated\n", 2),
        ("a: 1\n---\nb: 2\n", 2),
        ("a:\n\tb: 1\n", 2),
    ],
)
def test_yaml_syntax_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(SpecError) as caught:
        parse_document(text)
    assert caught.value.line == line
    assert "invalid YAML" in caught.value.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text", "42"])
def test_non_mapping_documents_are_rejected(text: str) -> None:
    with pytest.raises(SpecError):
        parse_document(text)


def test_duplicate_keys_are_rejected_with_their_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse_document("a: 1\nb: 2\na: 3\n")
    assert (caught.value.line, caught.value.field) == (3, "a")


def test_recursive_alias_is_an_error_not_a_crash() -> None:
    with pytest.raises(SpecError):
        parse_document("a: &x [*x]\n")
    with pytest.raises(SpecError):
        parse_document("a: &x {b: 1, <<: *x}\n")


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(SpecError, match="too large"):
        parse_document("\n".join(lines) + "\n")


def test_merge_keys_and_bare_on_keys() -> None:
    root = parse_document("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\non: true\n")
    assert root.require("use").plain() == {"x": 1, "y": 3}
    assert root.require("on").value is True


def test_deep_nesting_is_an_error() -> None:
    with pytest.raises(SpecError):
        parse_document("a: " + "[" * 5000 + "]" * 5000 + "\n")


def _check_only_spec_errors(text: str) -> None:
    for loader in LOADERS:
        try:
            loader(text)
        except SpecError as exc:
            assert str(exc)
    for uri in ("shipyard.yaml", "remediation.yaml", "slo.yaml", "x/sli.yaml", "webhook.yaml"):
        try:
            validate_resource(uri, text)
        except SpecError:
            pass


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_raises_only_spec_errors(text: str) -> None:
    _check_only_spec_errors(text)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["on", "off", "10m", "<=+10%", "=0", "default", "spec.keptn.sh/0.2.2"]),
)
_KEYS = st.sampled_from(
    [
        "apiVersion", "kind", "metadata", "spec", "stages", "name", "sequences", "tasks",
        "triggeredAfter", "triggeredOn", "remediations", "problemType", "actionsOnOpen",
        "action", "value", "objectives", "sli", "pass", "criteria", "warning", "weight",
        "key_sli", "total_score", "comparison", "spec_version", "indicators", "webhooks",
        "type", "requests", "url", "method", "headers", "envFrom", "actions", "selector",
    ]
)  # fmt: skip
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=5)
    ),
    max_leaves=25,
)
_HEADERS = st.sampled_from(
    [
        {"apiVersion": "spec.keptn.sh/0.2.2", "kind": "Shipyard"},
        {"apiVersion": "spec.keptn.sh/0.1.4", "kind": "Remediation"},
        {"apiVersion": "webhookconfig.keptn.sh/v1beta1", "kind": "WebhookConfig"},
        {"apiVersion": "webhookconfig.keptn.sh/v1alpha1", "kind": "WebhookConfig"},
        {"spec_version": "1.0"},
        {},
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_HEADERS, st.dictionaries(_KEYS, _TREES, max_size=6))
def test_random_structures_raise_only_spec_errors(
    header: dict[str, str], body: dict[str, object]
) -> None:
    _check_only_spec_errors(yaml.safe_dump({**header, **body}))
