"""Turning admin input (decoded JSON) into domain objects, or a 400 naming the field.

Everything is checked before anything is stored, so a bad request leaves no trace.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from selfheal.core import new_id
from selfheal.flags.engine import OPERATORS
from selfheal.flags.errors import InvalidFlagInput
from selfheal.flags.model import (
    FLAG_TYPES,
    Constraint,
    Dependency,
    Strategy,
    Variant,
)

_NAME = re.compile(r"^[\w.~-]{1,100}$")
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
_PERCENT_PARAMS = {
    "flexibleRollout": "rollout",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
    "gradualRolloutRandom": "percentage",
}
_MULTI_VALUE = frozenset({"IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH"})
PAYLOAD_TYPES = frozenset({"string", "json", "csv", "number"})
WEIGHT_TOTAL = 1000


def fail(message: str, field: str) -> InvalidFlagInput:
    return InvalidFlagInput(message, field=field)


def obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail("must be a JSON object", field)
    return value


def string(value: Any, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise fail("must be a string", field)
    return value


def boolean(value: Any, field: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fail("must be true or false", field)
    return value


def items(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("must be a JSON array", field)
    return value


def name(value: Any, field: str = "name") -> str:
    text = string(value, field)
    assert text is not None
    if not _NAME.match(text) or text in (".", ".."):
        raise fail(
            "must be 1-100 characters of letters, digits, '.', '_', '~' or '-' (URL-safe)",
            field,
        )
    return text


def flag_type(value: Any, field: str = "type") -> str:
    text = string(value, field) if value is not None else "release"
    if text not in FLAG_TYPES:
        raise fail(f"must be one of {', '.join(FLAG_TYPES)}", field)
    return text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def constraint(raw: Any, field: str) -> Constraint:
    d = obj(raw, field)
    context_name = string(d.get("contextName"), f"{field}.contextName")
    if not context_name:
        raise fail("must not be empty", f"{field}.contextName")
    operator = string(d.get("operator"), f"{field}.operator")
    if operator not in OPERATORS:
        raise fail(f"unknown operator {operator!r}", f"{field}.operator")
    values = tuple(
        str(string(v, f"{field}.values[{i}]"))
        for i, v in enumerate(items(d.get("values"), f"{field}.values"))
    )
    value = string(d.get("value"), f"{field}.value", optional=True)
    if operator not in _MULTI_VALUE and operator != "IN_CIDR" and value is None:
        if len(values) == 1:
            value, values = values[0], ()
        else:
            raise fail(f"operator {operator} needs a single 'value'", f"{field}.value")
    if value is not None:
        if operator.startswith("NUM_") and not _number(value):
            raise fail(f"{value!r} is not a number", f"{field}.value")
        if operator.startswith("DATE_") and not _date(value):
            raise fail(f"{value!r} is not an RFC 3339 date", f"{field}.value")
        if operator.startswith("SEMVER_") and not _SEMVER.match(value):
            raise fail(f"{value!r} is not a semantic version", f"{field}.value")
        if operator == "REGEX":
            try:
                re.compile(value)
            except re.error as exc:
                raise fail(f"not a valid regular expression: {exc}", f"{field}.value") from exc
    if operator == "IN_CIDR":
        for i, v in enumerate(values):
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError as exc:
                raise fail(f"{v!r} is not an IP network", f"{field}.values[{i}]") from exc
    return Constraint(
        context_name=context_name,
        operator=operator,
        values=values,
        value=value,
        inverted=boolean(d.get("inverted"), f"{field}.inverted"),
        case_insensitive=boolean(d.get("caseInsensitive"), f"{field}.caseInsensitive"),
    )


def constraints(raw: Any, field: str) -> tuple[Constraint, ...]:
    return tuple(constraint(c, f"{field}[{i}]") for i, c in enumerate(items(raw, field)))


def _payload(raw: Any, field: str) -> dict[str, str] | None:
    if raw is None:
        return None
    d = obj(raw, field)
    kind = string(d.get("type"), f"{field}.type")
    if kind not in PAYLOAD_TYPES:
        raise fail(f"must be one of {', '.join(sorted(PAYLOAD_TYPES))}", f"{field}.type")
    value = string(d.get("value"), f"{field}.value")
    assert value is not None
    if kind == "json":
        try:
            json.loads(value)
        except ValueError as exc:
            raise fail("is not valid JSON", f"{field}.value") from exc
    if kind == "number" and not _number(value):
        raise fail("is not a number", f"{field}.value")
    return {"type": kind, "value": value}


def variants(raw: Any, field: str) -> tuple[Variant, ...]:
    """Variants with weights that add up to 1000; variable weights left out are shared out."""
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items(raw, field)):
        f = f"{field}[{i}]"
        d = obj(item, f)
        vname = string(d.get("name"), f"{f}.name")
        if not vname:
            raise fail("must not be empty", f"{f}.name")
        if vname in seen:
            raise fail(f"variant name {vname!r} is used twice", f"{f}.name")
        seen.add(vname)
        weight = d.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int)):
            raise fail("must be an integer", f"{f}.weight")
        if weight is not None and not 0 <= weight <= WEIGHT_TOTAL:
            raise fail(f"must be between 0 and {WEIGHT_TOTAL}", f"{f}.weight")
        weight_type = string(d.get("weightType") or "variable", f"{f}.weightType")
        if weight_type not in ("variable", "fix"):
            raise fail("must be 'variable' or 'fix'", f"{f}.weightType")
        if weight_type == "fix" and weight is None:
            raise fail("a fixed variant needs a weight", f"{f}.weight")
        overrides = []
        for j, o in enumerate(items(d.get("overrides"), f"{f}.overrides")):
            of = f"{f}.overrides[{j}]"
            od = obj(o, of)
            ctx = string(od.get("contextName"), f"{of}.contextName")
            vals = tuple(
                str(string(v, f"{of}.values[{k}]"))
                for k, v in enumerate(items(od.get("values"), f"{of}.values"))
            )
            overrides.append((str(ctx), vals))
        parsed.append(
            {
                "name": vname,
                "weight": weight,
                "weight_type": weight_type,
                "stickiness": string(d.get("stickiness") or "default", f"{f}.stickiness"),
                "payload": _payload(d.get("payload"), f"{f}.payload"),
                "overrides": tuple(overrides),
            }
        )
    if not parsed:
        return ()
    _share_weights(parsed, field)
    return tuple(Variant(**p) for p in parsed)


def _share_weights(parsed: list[dict[str, Any]], field: str) -> None:
    fixed = sum(p["weight"] for p in parsed if p["weight_type"] == "fix")
    if fixed > WEIGHT_TOTAL:
        raise fail(f"fixed weights add up to {fixed}, more than {WEIGHT_TOTAL}", field)
    variable = [p for p in parsed if p["weight_type"] == "variable"]
    given = [p for p in variable if p["weight"] is not None]
    if variable and len(given) == len(variable) and any(p["weight"] for p in given):
        total = fixed + sum(p["weight"] for p in given)
        if total != WEIGHT_TOTAL:
            raise fail(f"weights add up to {total}, they must add up to {WEIGHT_TOTAL}", field)
        return
    if not variable:
        if fixed != WEIGHT_TOTAL:
            raise fail(f"weights add up to {fixed}, they must add up to {WEIGHT_TOTAL}", field)
        return
    share, rest = divmod(WEIGHT_TOTAL - fixed, len(variable))
    for i, p in enumerate(variable):
        p["weight"] = share + (1 if i < rest else 0)


def parameters(raw: Any, strategy_name: str, field: str) -> dict[str, str]:
    if raw is None:
        raw = {}
    d = obj(raw, field)
    out: dict[str, str] = {}
    for key, value in d.items():
        if not isinstance(value, str):
            raise fail("strategy parameters must be strings", f"{field}.{key}")
        out[key] = value
    percent = _PERCENT_PARAMS.get(strategy_name)
    if percent and percent in out:
        text = out[percent]
        if not text.isdigit() or not 0 <= int(text) <= 100:
            raise fail("must be a whole number from 0 to 100", f"{field}.{percent}")
    return out


def strategy(
    raw: Any, known_segments: Iterable[int], *, field: str = "body", id: str | None = None
) -> Strategy:
    d = obj(raw, field)
    sname = string(d.get("name"), f"{field}.name" if field != "body" else "name")
    if not sname:
        raise fail("must not be empty", "name")
    prefix = "" if field == "body" else f"{field}."
    known = set(known_segments)
    segs: list[int] = []
    for i, s in enumerate(items(d.get("segments"), f"{prefix}segments")):
        if isinstance(s, bool) or not isinstance(s, int):
            raise fail("segment ids are integers", f"{prefix}segments[{i}]")
        if s not in known:
            raise fail(f"unknown segment id {s}", f"{prefix}segments[{i}]")
        segs.append(s)
    sort_order = d.get("sortOrder", 0)
    if isinstance(sort_order, bool) or not isinstance(sort_order, int):
        raise fail("must be an integer", f"{prefix}sortOrder")
    return Strategy(
        id=id or string(d.get("id"), f"{prefix}id", optional=True) or new_id(),
        name=sname,
        parameters=parameters(d.get("parameters"), sname, f"{prefix}parameters"),
        constraints=constraints(d.get("constraints"), f"{prefix}constraints"),
        segments=tuple(segs),
        variants=variants(d.get("variants"), f"{prefix}variants"),
        disabled=boolean(d.get("disabled"), f"{prefix}disabled"),
        title=string(d.get("title"), f"{prefix}title", optional=True),
        sort_order=sort_order,
    )


def dependency(raw: Any, field: str = "body") -> Dependency:
    d = obj(raw, field)
    vs = tuple(
        str(string(v, f"variants[{i}]")) for i, v in enumerate(items(d.get("variants"), "variants"))
    )
    return Dependency(
        feature=name(d.get("feature"), "feature"),
        enabled=boolean(d.get("enabled"), "enabled", default=True),
        variants=vs,
    )
