"""Reading fields out of an Unleash context.

A context is whatever the SDK or HTTP layer hands us: a mapping with the standard fields at the
top level (`userId`, `sessionId`, `remoteAddress`, `environment`, `appName`, `currentTime`) and
custom fields under `properties`. Some clients put custom fields at the top level too, so a
custom field falls back to the top level when `properties` does not carry it. Compiled checks
take a `Values` (the context wrapped once per evaluation) and read a field with an item lookup
that resolves it on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, cast

STANDARD_FIELDS = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"}
)
_EMPTY: Mapping[str, Any] = {}


def _text(value: Any) -> str | None:
    """A context value as the string the operators compare, or None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


class Values(dict[str, "str | None"]):
    """One evaluation's context, each field read (and made a string) at most once.

    The engine wraps the caller's context in one of these per call (per request for the
    frontend API), so the checks of 350 flags that all test `appName` read it once, and a
    compiled check reads a field with a C-level item lookup instead of a Python call.
    Build one with `values_of`; there is no `__init__`, which keeps a single-flag call cheap.
    """

    __slots__ = ("context",)
    context: Mapping[str, Any]

    def __missing__(self, field: str) -> str | None:
        # The first lookup of each field per call lands here.
        context = self.context
        if field in STANDARD_FIELDS:
            value = context.get(field)
            if value is None:
                properties = context.get("properties") or _EMPTY
                value = properties.get(field)
        else:
            properties = context.get("properties")
            value = properties.get(field) if properties else None
            if value is None:
                value = context.get(field)
        text = self[field] = value if value.__class__ is str else _text(value)
        return text


def values_of(context: Mapping[str, Any]) -> Values:
    """`context` wrapped for one evaluation."""
    values = Values()
    values.context = context
    return values


Context = Values
Resolver = Callable[[Values], "str | None"]


def resolver(field: str) -> Resolver:
    """A function returning the context's value for `field` as a string (None when missing)."""
    return cast(Resolver, itemgetter(field))


def raw(values: Values, field: str) -> Any:
    """The untouched value of `field` (for `currentTime`, which may be a datetime)."""
    context = values.context
    value = context.get(field)
    if value is None:
        properties = context.get("properties") or _EMPTY
        value = properties.get(field)
    return value
