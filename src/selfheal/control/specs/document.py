"""A line-aware YAML reader: every value remembers the line and dotted path it came from.

PyYAML's `compose` keeps marks on nodes; we turn those nodes into `Node`s so that a validator can
say "line 7, field 'spec.stages[0].name': must be a string" instead of a bare type error. Every
failure, including YAML syntax errors, alias bombs and recursion, becomes a `SpecError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from selfheal.control.specs.errors import SpecError

Scalar = str | int | float | bool | None
MAX_NODES = 100_000
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One value of a document: a scalar, a `dict[str, Node]` or a `list[Node]`."""

    value: Scalar | dict[str, Node] | list[Node]
    line: int
    path: str

    def fail(self, message: str) -> SpecError:
        return SpecError(message, field=self.path or None, line=self.line)

    def child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def mapping(self) -> dict[str, Node]:
        if not isinstance(self.value, dict):
            raise self.fail("must be a mapping")
        return self.value

    def sequence(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.fail("must be a list")
        return self.value

    def string(self, *, empty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self.fail("must be a string")
        if not empty and not self.value.strip():
            raise self.fail("must not be empty")
        return self.value

    def text(self) -> str:
        """A string, also accepting an unquoted number (`spec_version: 1.0`)."""
        if isinstance(self.value, bool) or not isinstance(self.value, str | int | float):
            raise self.fail("must be a string")
        return str(self.value)

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.fail("must be a number")
        return float(self.value)

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail("must be an integer")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail("must be true or false")
        return self.value

    def get(self, key: str) -> Node | None:
        return self.mapping().get(key)

    def require(self, key: str) -> Node:
        found = self.mapping().get(key)
        if found is None or found.value is None:
            raise SpecError("required", field=self.child_path(key), line=self.line)
        return found

    def only(self, allowed: Iterable[str]) -> dict[str, Node]:
        """The mapping, rejecting keys outside `allowed` (typos must not be silently ignored)."""
        known = set(allowed)
        items = self.mapping()
        for key, child in items.items():
            if key not in known:
                expected = ", ".join(sorted(known))
                raise child.fail(f"unknown field (expected one of: {expected})")
        return items

    def plain(self) -> Any:
        """The value as plain Python data (for free-form parts such as `properties`)."""
        if isinstance(self.value, dict):
            return {key: child.plain() for key, child in self.value.items()}
        if isinstance(self.value, list):
            return [child.plain() for child in self.value]
        return self.value


def parse_document(text: str) -> Node:
    """Parse one YAML document whose top level is a mapping."""
    if not isinstance(text, str):
        raise SpecError("the document must be text")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise SpecError(f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", line=_reader_line(exc, text)) from None
    except RecursionError:
        raise SpecError("invalid YAML: nested too deeply") from None
    if root is None:
        raise SpecError("the document is empty", line=1)
    node = _Builder().build(root, "", root.start_mark.line + 1)
    if not isinstance(node.value, dict):
        raise node.fail("the document must be a mapping")
    return node


def check_header(root: Node, *, api_version: re.Pattern[str], kind: str) -> str:
    """Check `apiVersion` and `kind`; return the apiVersion."""
    version = root.require("apiVersion").string()
    if not api_version.fullmatch(version):
        raise root.require("apiVersion").fail(f"unsupported apiVersion {version!r}")
    kind_node = root.require("kind")
    if kind_node.string() != kind:
        raise kind_node.fail(f"kind must be {kind!r}, not {kind_node.value!r}")
    return version


def _reader_line(exc: yaml.YAMLError, text: str) -> int | None:
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return None


class _Builder:
    """Turns composed nodes into `Node`s, guarding against recursive and exploding aliases."""

    def __init__(self) -> None:
        self._constructor = SafeConstructor()
        self._budget = MAX_NODES
        self._open: set[int] = set()

    def build(self, node: yaml.Node, path: str, line: int) -> Node:
        self._budget -= 1
        if self._budget < 0:
            raise SpecError("the document is too large (too many values or aliases)", line=line)
        if isinstance(node, yaml.ScalarNode):
            return Node(self._scalar(node), line, path)
        if id(node) in self._open:
            raise SpecError("recursive alias", field=path or None, line=line)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = [
                    self.build(child, f"{path}[{index}]", child.start_mark.line + 1)
                    for index, child in enumerate(node.value)
                ]
                return Node(items, line, path)
            return Node(self._mapping(node, path, line), line, path)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.Node, path: str, line: int) -> dict[str, Node]:
        out: dict[str, Node] = {}
        merged: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("keys must be plain scalars", field=path or None, line=key_line)
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    built = self.build(source, path, key_line)
                    if not isinstance(built.value, dict):
                        raise built.fail("a merge (<<) must refer to a mapping")
                    for merged_key, merged_value in built.value.items():
                        merged.setdefault(merged_key, merged_value)
                continue
            key = str(key_node.value)
            child_path = f"{path}.{key}" if path else key
            if key in out:
                raise SpecError("duplicate key", field=child_path, line=key_line)
            out[key] = self.build(value_node, child_path, key_line)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _scalar(self, node: yaml.ScalarNode) -> Scalar:
        raw = str(node.value)
        if node.tag == _STR_TAG or not node.tag.startswith("tag:yaml.org,2002:"):
            return raw
        try:
            value = self._constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return raw
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return raw  # timestamps, binary: keep the text as written


__all__ = ["Node", "check_header", "parse_document"]
