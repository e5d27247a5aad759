"""The remediation file: which actions to try, in order, for which problem.

Accepts Keptn's `spec.keptn.sh/0.1.x` (and 0.2.x, same shape) `Remediation` and the legacy 0.6
`remediations:` list, whose `name` matches as a prefix of the problem title and whose
`featuretoggle` action with `value: "Flag:on"` becomes a `toggle-feature` action.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from selfheal.control.specs.restore import RestorePolicy, load_restore
from selfheal.core.documents import Node, SpecError, check_header, parse_document

REMEDIATION_API = re.compile(r"spec\.keptn\.sh/0\.[12]\.\d+")
TOGGLE_ACTIONS = ("toggle-feature", "featuretoggle")
DEFAULT_PROBLEM_TYPE = "default"
_ON = {"on", "true", "enabled", "enable", "yes", "1"}
_OFF = {"off", "false", "disabled", "disable", "no", "0"}


def _switch(flag: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise SpecError(f"flag {flag!r}: value {raw!r} is neither on nor off", field="value")


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    action: str
    description: str = ""
    value: Mapping[str, Any] | str | None = None

    def flag_changes(self) -> dict[str, bool]:
        """Flags to switch: `{EnableStaticContent: "on"}`, `"EnableStaticContent:on"` (legacy,
        comma-separated for several) and YAML booleans all read as `{"EnableStaticContent": True}`."""
        if self.value is None:
            return {}
        if isinstance(self.value, str):
            changes: dict[str, bool] = {}
            for part in filter(None, (p.strip() for p in self.value.split(","))):
                flag, sep, state = part.partition(":")
                if not sep or not flag.strip():
                    raise SpecError(f"{part!r} is not 'Flag:on' or 'Flag:off'", field="value")
                changes[flag.strip()] = _switch(flag.strip(), state)
            return changes
        return {str(flag): _switch(str(flag), state) for flag, state in self.value.items()}


@dataclass(frozen=True, slots=True)
class Rule:
    """One `remediations` entry; `prefix` marks legacy entries matched by title prefix."""

    problem_type: str
    actions: tuple[Action, ...]
    prefix: bool = False
    restore: RestorePolicy | None = None
    """selfheal's extension: how to bring traffic back once a kill switch masked the problem."""


@dataclass(frozen=True, slots=True)
class Remediation:
    rules: tuple[Rule, ...]
    api_version: str
    name: str = ""
    legacy: bool = False

    def rule_for(self, problem_title: str, root_cause: str | None = None) -> Rule | None:
        """The rule that applies: exact root cause, exact title, legacy prefix, default."""
        if root_cause:
            for rule in self.rules:
                if rule.problem_type == root_cause:
                    return rule
        for rule in self.rules:
            if rule.problem_type == problem_title:
                return rule
        for rule in self.rules:
            if rule.prefix and problem_title.startswith(rule.problem_type):
                return rule
        for rule in self.rules:
            if rule.problem_type == DEFAULT_PROBLEM_TYPE:
                return rule
        return None

    def actions_for(self, problem_title: str, root_cause: str | None = None) -> tuple[Action, ...]:
        """Actions in the order to try (see `rule_for`)."""
        rule = self.rule_for(problem_title, root_cause)
        return rule.actions if rule is not None else ()

    def restore_for(
        self, problem_title: str, root_cause: str | None = None
    ) -> RestorePolicy | None:
        """The `restore:` block of the rule that applies, if it has one."""
        rule = self.rule_for(problem_title, root_cause)
        return rule.restore if rule is not None else None


def load_remediation(text: str) -> Remediation:
    root = parse_document(text)
    if "apiVersion" not in root.mapping() and "remediations" in root.mapping():
        return _legacy(root)
    root.only(("apiVersion", "kind", "metadata", "spec"))
    version = check_header(root, api_version=REMEDIATION_API, kind="Remediation")
    name = ""
    metadata = root.get("metadata")
    if metadata is not None and metadata.value is not None:
        raw_name = metadata.get("name")
        name = raw_name.text() if raw_name is not None and raw_name.value is not None else ""
    spec = root.require("spec")
    spec.only(("remediations",))
    rules = [_rule(node) for node in spec.require("remediations").sequence()]
    return Remediation(rules=tuple(rules), api_version=version, name=name)


def _rule(node: Node) -> Rule:
    node.only(("problemType", "actionsOnOpen", "actionsOnResolved", "restore"))
    problem_type = node.require("problemType").string()
    raw = node.get("actionsOnOpen")
    actions = () if raw is None or raw.value is None else tuple(_action(a) for a in raw.sequence())
    return Rule(problem_type=problem_type, actions=actions, restore=_restore(node, actions))


def _restore(node: Node, actions: tuple[Action, ...]) -> RestorePolicy | None:
    raw = node.get("restore")
    if raw is None or raw.value is None:
        return None
    policy = load_restore(raw)
    if not any(a.action in TOGGLE_ACTIONS and any(a.flag_changes().values()) for a in actions):
        raise raw.fail("restore needs an action that switches a flag on (toggle-feature)")
    return policy


def _action(node: Node) -> Action:
    node.only(("name", "action", "description", "value"))
    action = node.require("action").string()
    raw_name = node.get("name")
    name = raw_name.string() if raw_name is not None and raw_name.value is not None else action
    raw_description = node.get("description")
    description = (
        raw_description.string(empty=True)
        if raw_description is not None and raw_description.value is not None
        else ""
    )
    return Action(name=name, action=action, description=description, value=_value(node, action))


def _value(node: Node, action: str) -> Mapping[str, Any] | str | None:
    raw = node.get("value")
    if raw is None or raw.value is None:
        value: Mapping[str, Any] | str | None = None
    elif isinstance(raw.value, dict):
        value = MappingProxyType(raw.plain())
    elif isinstance(raw.value, list):
        raise raw.fail("must be a mapping or a string")
    else:
        value = raw.text() if not isinstance(raw.value, bool) else str(raw.value).lower()
    if action in TOGGLE_ACTIONS:
        try:
            changes = Action(name="", action=action, value=value).flag_changes()
        except SpecError as exc:
            raise raw.fail(exc.message) if raw is not None else exc from None
        if not changes:
            raise (raw or node).fail("a toggle-feature action needs at least one flag")
    return value


def _legacy(root: Node) -> Remediation:
    root.only(("remediations",))
    rules: list[Rule] = []
    for node in root.require("remediations").sequence():
        node.only(("name", "actions", "restore"))
        name = node.require("name").string()
        actions: list[Action] = []
        for item in node.require("actions").sequence():
            item.only(("action", "value", "name", "description"))
            action = item.require("action").string()
            if action == "featuretoggle":
                action = "toggle-feature"
            raw_name = item.get("name")
            label = (
                raw_name.string() if raw_name is not None and raw_name.value is not None else action
            )
            raw_description = item.get("description")
            description = (
                raw_description.string(empty=True)
                if raw_description is not None and raw_description.value is not None
                else ""
            )
            actions.append(Action(label, action, description, _value(item, action)))
        rules.append(
            Rule(
                problem_type=name,
                actions=tuple(actions),
                prefix=True,
                restore=_restore(node, tuple(actions)),
            )
        )
    return Remediation(rules=tuple(rules), api_version="0.6", legacy=True)


__all__ = [
    "DEFAULT_PROBLEM_TYPE",
    "REMEDIATION_API",
    "Action",
    "Remediation",
    "RestorePolicy",
    "Rule",
    "load_remediation",
]
