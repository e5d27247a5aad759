"""Factories for client API payloads, so that each test states only what it is about."""

from __future__ import annotations

from typing import Any

from selfheal.flags.engine import Engine


def constraint(
    operator: str, values: list[str] | str, field: str = "field", **extra: Any
) -> dict[str, Any]:
    key = "values" if isinstance(values, list) else "value"
    return {"contextName": field, "operator": operator, key: values, **extra}


def strategy(name: str = "default", **fields: Any) -> dict[str, Any]:
    return {"name": name, "parameters": fields.pop("parameters", {}), **fields}


def feature(name: str = "f", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "enabled": True, "strategies": [strategy()]}
    base.update(fields)
    return base


def engine(*features: dict[str, Any], segments: list[Any] | None = None, **kw: Any) -> Engine:
    return Engine({"version": 2, "features": list(features), "segments": segments or []}, **kw)


def with_constraints(*constraints: dict[str, Any]) -> Engine:
    """An engine whose flag "f" is on exactly when every constraint holds."""
    return engine(feature(strategies=[strategy(constraints=list(constraints))]))
