"""Reading fields out of an Unleash context.

A context is whatever the SDK or HTTP layer hands us: a mapping with the standard fields at the
top level (`userId`, `sessionId`, `remoteAddress`, `environment`, `appName`, `currentTime`) and
custom fields under `properties`. Some clients put custom fields at the top level too, so a
custom field falls back to the top level when `properties` does not carry it. Resolvers are built
once per constraint or strategy so that the hot path is a dict lookup or two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Context = Mapping[str, Any]
Resolver = Callable[[Context], str | None]

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


def resolver(field: str) -> Resolver:
    """A function returning the context's value for `field` as a string (None when missing)."""
    if field in STANDARD_FIELDS:

        def standard(context: Context) -> str | None:
            value = context.get(field)
            if value is None:
                properties = context.get("properties") or _EMPTY
                value = properties.get(field)
            return value if value.__class__ is str else _text(value)

        return standard

    def custom(context: Context) -> str | None:
        properties = context.get("properties")
        value = properties.get(field) if properties else None
        if value is None:
            value = context.get(field)
        return value if value.__class__ is str else _text(value)

    return custom


def raw(context: Context, field: str) -> Any:
    """The untouched value of `field` (for `currentTime`, which may be a datetime)."""
    value = context.get(field)
    if value is None:
        properties = context.get("properties") or _EMPTY
        value = properties.get(field)
    return value
