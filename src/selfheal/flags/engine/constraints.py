"""Constraints: compiled once into small closures over the context.

Every operator of the Unleash client specification is supported. Two rules keep evaluation
total (it never raises): a constraint whose *definition* cannot be evaluated (unknown operator,
invalid regex, unparsable date, number or version) is false whatever `inverted` says; a
*context value* that is missing or does not parse makes the operator false, and `inverted`
then flips that result as it flips any other. IN_CIDR skips invalid entries of its list (so a
list of only invalid entries matches nothing, and inverted matches everything). These choices
agree with Yggdrasil, the engine inside the official SDKs. `caseInsensitive` applies to the string operators
and REGEX; IN and NOT_IN are exact, as in Unleash.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from selfheal.flags.engine.context import Context, Resolver, raw, resolver
from selfheal.flags.engine.patterns import compile_pattern
from selfheal.flags.engine.versions import Version, parse_version

Check = Callable[[Context], bool]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_STRING: dict[str, Callable[[str, str], bool]] = {
    "STR_CONTAINS": str.__contains__,
    "STR_STARTS_WITH": str.startswith,
    "STR_ENDS_WITH": str.endswith,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "GT": operator.gt,
    "GTE": operator.ge,
    "LT": operator.lt,
    "LTE": operator.le,
}
_DATES = {"DATE_AFTER": operator.gt, "DATE_BEFORE": operator.lt}

OPERATORS = frozenset(
    {"IN", "NOT_IN", "REGEX", "IN_CIDR", *_STRING, *_DATES}
    | {f"NUM_{name}" for name in _COMPARE}
    | {f"SEMVER_{name}" for name in _COMPARE}
)


def never(_context: Context) -> bool:
    """The check of a constraint that cannot be evaluated."""
    return False


def parse_date(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string or a datetime (naive means UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return _parse_iso(value)
    return None


@lru_cache(maxsize=4096)
def _parse_iso(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `value` denotes, or None (memoised: addresses repeat across flags)."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _values(definition: Mapping[str, Any]) -> list[str]:
    values = definition.get("values")
    if values is None:
        single = definition.get("value")
        values = [] if single is None else [single]
    return [str(value) for value in values if value is not None]


def _single(definition: Mapping[str, Any]) -> str | None:
    value = definition.get("value")
    if value is None:
        values = definition.get("values") or []
        value = values[0] if values else None
    return None if value is None else str(value)


def _networks(values: Iterable[str]) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


def _operator(op: str, definition: Mapping[str, Any], field: Resolver) -> Check | None:
    """The un-inverted check, or None when the definition cannot be evaluated."""
    fold = bool(definition.get("caseInsensitive"))
    if op in ("IN", "NOT_IN"):
        members = frozenset(_values(definition))
        if op == "IN":
            return lambda context: field(context) in members
        return lambda context: field(context) not in members
    if op in _STRING:
        test = _STRING[op]
        items = tuple(v.lower() if fold else v for v in _values(definition))

        if op != "STR_CONTAINS":
            # startswith/endswith take the whole tuple: one C call, no generator per check.
            ends = str.startswith if op == "STR_STARTS_WITH" else str.endswith

            def affix(context: Context) -> bool:
                value = field(context)
                if value is None:
                    return False
                return ends(value.lower() if fold else value, items)

            return affix

        def string(context: Context) -> bool:
            value = field(context)
            if value is None:
                return False
            if fold:
                value = value.lower()
            return any(test(value, item) for item in items)

        return string
    if op.startswith("NUM_") and op[4:] in _COMPARE:
        compare, target = _COMPARE[op[4:]], _number(_single(definition))
        if target is None:
            return None

        def number(context: Context) -> bool:
            value = _number(field(context))
            return value is not None and compare(value, target)

        return number
    if op.startswith("SEMVER_") and op[7:] in _COMPARE:
        order, version = _COMPARE[op[7:]], parse_version(_single(definition))
        if version is None:
            return None

        def semver(context: Context) -> bool:
            value: Version | None = parse_version(field(context))
            return value is not None and order(value, version)

        return semver
    if op in _DATES:
        after_or_before, moment = _DATES[op], parse_date(_single(definition))
        if moment is None:
            return None
        name = definition.get("contextName", "currentTime")

        def date(context: Context) -> bool:
            value = raw(context, name)
            when = datetime.now(UTC) if value is None else parse_date(value)
            return when is not None and after_or_before(when, moment)

        return date
    if op == "REGEX":
        source = _single(definition)
        pattern = None if source is None else compile_pattern(source, ignore_case=fold)
        if pattern is None:
            return None
        search = pattern.search

        def regex(context: Context) -> bool:
            value = field(context)
            return value is not None and search(value) is not None

        return regex
    if op == "IN_CIDR":
        # Invalid entries are skipped; a list of nothing but invalid entries matches nothing.
        networks = _networks(_values(definition))

        def cidr(context: Context) -> bool:
            value = field(context)
            address = parse_address(value) if value else None
            return address is not None and any(address in network for network in networks)

        return cidr
    return None


def compile_constraint(definition: Mapping[str, Any]) -> Check:
    """One constraint as a check; never raises, at compile time or later."""
    op = str(definition.get("operator", ""))
    name = definition.get("contextName")
    if not isinstance(name, str) or op not in OPERATORS:
        return never
    check = _operator(op, definition, resolver(name))
    if check is None:
        return never
    if definition.get("inverted"):
        inner = check
        return lambda context: not inner(context)
    return check


def compile_constraints(definitions: Iterable[Mapping[str, Any]] | None) -> tuple[Check, ...]:
    """Every constraint of a list; all must hold."""
    return tuple(compile_constraint(definition) for definition in definitions or ())
