"""A line-aware YAML reader: every value remembers the line and dotted path it came from.

PyYAML's `compose` keeps marks on nodes; we turn those nodes into `Node`s so that a validator can
say "line 7, field 'spec.stages[0].name': must be a string" instead of a bare type error. Every
failure, including YAML syntax errors, alias bombs and recursion, becomes a `SpecError`.

Every declarative file (the control plane's, monitor.yaml) is read through here: hand-written
walkers use `Node`'s checks, pydantic models go through `validate`, which turns pydantic's first
error into the same `SpecError` with the key's line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor

from selfheal.core.errors import InvalidInput

Scalar = str | int | float | bool | None
M = TypeVar("M", bound=BaseModel)
MAX_NODES = 100_000
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class SpecError(InvalidInput):
    """A declarative file (shipyard, remediation, SLO, SLI, webhook, monitor.yaml) that cannot
    be accepted.

    `line` is 1-based; `field` is the dotted path (`spec.remediations[0].actionsOnOpen[0].action`),
    so `str(error)` reads "line 7, field '…': required". The web layer maps it to 400 like any
    `InvalidInput`.
    """


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One value of a document: a scalar, a `dict[str, Node]` or a `list[Node]`."""

    value: Scalar | dict[str, Node] | list[Node]
    line: int | None
    """1-based; None for plain data that never was a file (`Node.of`)."""
    path: str

    @classmethod
    def of(cls, value: Any, path: str = "") -> Node:
        """Plain data (a stored declaration, a decoded JSON body) as nodes without lines, so
        it is checked by the same validators as a file."""
        if isinstance(value, dict):
            return cls(
                {str(k): cls.of(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()},
                None,
                path,
            )
        if isinstance(value, list | tuple):
            return cls([cls.of(v, f"{path}[{i}]") for i, v in enumerate(value)], None, path)
        return cls(value, None, path)

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

    def locate(self, loc: tuple[str | int, ...]) -> tuple[Node, str]:
        """The deepest node on an error location (keys and indexes of this document), and
        the location's dotted path. A key the document lacks (a missing field) is named but
        has no node of its own: its line is its parent's."""
        node, path = self, self.path
        for part in loc:
            child = node._child(part)
            if child is None:
                return node, f"{path}[{part}]" if isinstance(part, int) else node.child_path(part)
            node, path = child, child.path
        return node, path

    def _child(self, part: str | int) -> Node | None:
        if isinstance(self.value, list) and isinstance(part, int):
            return self.value[part] if 0 <= part < len(self.value) else None
        if isinstance(self.value, dict) and isinstance(part, str):
            return self.value.get(part)
        return None

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


def validate(model: type[M], node: Node) -> M:
    """`node` as a pydantic model; the first error becomes a `SpecError` with key and line.

    Models forbid unknown keys (`extra="forbid"`), so a typo (`treshold`) is named where it
    was written, with the keys that would have been understood.
    """
    try:
        return model.model_validate(node.plain())
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc, parent = _document_loc(model, tuple(error["loc"]))
        tag = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
        if error["type"] in ("union_tag_invalid", "union_tag_not_found") and tag.isidentifier():
            loc = (*loc, tag)
        found, path = node.locate(loc)
        message = _message(error)
        if error["type"] == "extra_forbidden" and parent is not None:
            message += f" (expected one of: {', '.join(_accepted(parent))})"
        raise SpecError(message, field=path or None, line=found.line) from None


def _accepted(model: type[BaseModel]) -> list[str]:
    """The keys a model takes; a field typed `None` only exists to refuse its key with a
    reason, so it is not offered."""
    return sorted(
        name for name, field in model.model_fields.items() if field.annotation is not type(None)
    )


def _document_loc(
    model: type[BaseModel], loc: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], type[BaseModel] | None]:
    """pydantic's error location without its union tags (they name no key of the document),
    and the model that holds the location's last key."""
    kept: list[str | int] = []
    current: Any = model
    holder: type[BaseModel] | None = None
    for part in loc:
        current = _unwrap(current)
        if _is_union(current):  # the part is a tag (or a member type's name): pick the member
            current = _member(current, part)
            continue
        kept.append(part)
        holder = current if isinstance(current, type) and issubclass(current, BaseModel) else None
        if holder is not None:
            field = holder.model_fields.get(part) if isinstance(part, str) else None
            current = field.annotation if field is not None else None
        else:
            args = get_args(current)
            current = args[-1] if args else None
    return tuple(kept), holder


def _unwrap(tp: Any) -> Any:
    """`Annotated[X, …]` → X; `X | None` → X."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and sum(arg is not type(None) for arg in get_args(tp)) == 1:
            tp = next(arg for arg in get_args(tp) if arg is not type(None))
        else:
            return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, UnionType)


def _member(union: Any, part: str | int) -> Any:
    """The union member a tag names: a model whose `Literal` field holds the tag, or a type
    whose name it is."""
    for arg in get_args(union):
        inner = _unwrap(arg)
        if getattr(inner, "__name__", None) == part:
            return inner
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            for field in inner.model_fields.values():
                if get_origin(field.annotation) is Literal and part in get_args(field.annotation):
                    return inner
    return None


def _message(error: Any) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("missing", "union_tag_not_found"):
        return "required"
    if kind == "union_tag_invalid":
        return f"must be one of {context.get('expected_tags')}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    return message


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


__all__ = ["Node", "SpecError", "check_header", "parse_document", "validate"]
