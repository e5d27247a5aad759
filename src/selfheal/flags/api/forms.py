"""The console's editing forms (constraints, segments, variants) read into the shapes the
admin API takes, so the same validation (`flags.validation`) checks both.

A form has numbered rows (`c1-operator`, `v2-weight`, …) and, like Unleash's UI, a JSON view
of the same list as an alternative: the button that submitted the form says which one to read
(`editor=json` reads the `constraints`/`variants` textarea). A bad row comes back as an error
naming the row and field as the form labels them ("constraint 2 operator: unknown operator").
"""

from __future__ import annotations

import json
import re
from typing import Any

from selfheal.flags import validation as v
from selfheal.flags.errors import InvalidFlagInput

CONTEXT_FIELDS = (
    "appName",
    "currentTime",
    "environment",
    "remoteAddress",
    "sessionId",
    "userId",
)
"""The standard fields of Unleash's context (custom properties are typed in)."""

OPERATOR_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Lists", (("IN", "is one of"), ("NOT_IN", "is not one of"))),
    (
        "Strings",
        (
            ("STR_CONTAINS", "contains"),
            ("STR_STARTS_WITH", "starts with"),
            ("STR_ENDS_WITH", "ends with"),
        ),
    ),
    (
        "Numbers",
        (
            ("NUM_EQ", "="),
            ("NUM_GT", ">"),
            ("NUM_GTE", "≥"),
            ("NUM_LT", "<"),
            ("NUM_LTE", "≤"),
        ),
    ),
    ("Dates", (("DATE_AFTER", "is after"), ("DATE_BEFORE", "is before"))),
    (
        "Versions",
        (
            ("SEMVER_EQ", "="),
            ("SEMVER_GT", ">"),
            ("SEMVER_LT", "<"),
        ),
    ),
    (
        "More (selfheal's engine; not in Unleash's own UI)",
        (
            ("REGEX", "matches the regular expression"),
            ("IN_CIDR", "is in the network"),
            ("SEMVER_GTE", "version ≥"),
            ("SEMVER_LTE", "version ≤"),
        ),
    ),
)
"""Unleash's constraint operators, grouped and worded as its UI picker shows them, then the
few more the engine evaluates (so the picker offers exactly what validation accepts)."""

STICKINESS = ("default", "userId", "sessionId", "random")
PAYLOAD_TYPES = ("string", "json", "csv", "number")
BLANK_ROWS = 1
"""Empty rows a form offers after the existing ones (add more by saving)."""

_ROW = re.compile(r"^([cv])(\d+)-")


def editor(form: Any, json_field: str) -> str:
    """`json` or `form`: which view the user saved (older clients send only the JSON)."""
    chosen = str(form.get("editor") or "")
    if chosen in ("json", "form"):
        return chosen
    return "json" if json_field in form else "form"


def json_list(form: Any, name: str) -> Any:
    """The JSON view's textarea, or an error naming it (with the line) if it does not parse."""
    raw = str(form.get(name) or "").strip() or "[]"
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidFlagInput(
            f"{name} are not valid JSON (line {exc.lineno}: {exc.msg})", field=name
        ) from exc


def _rows(form: Any, prefix: str) -> list[int]:
    """The row numbers a form sent for `prefix` (`c` constraints, `v` variants), in order."""
    found: set[int] = set()
    for key in form:
        m = _ROW.match(str(key))
        if m and m.group(1) == prefix:
            found.add(int(m.group(2)))
    return sorted(found)


def _text(form: Any, key: str) -> str:
    return str(form.get(key) or "").strip()


def _relabel(exc: InvalidFlagInput, prefix: str, label: str) -> InvalidFlagInput:
    """The error of a list item (fields starting with `prefix`) named by its row's label."""
    rest = (exc.field or "").removeprefix(prefix).lstrip(".")
    return InvalidFlagInput(exc.message, field=f"{label} {rest}".strip())


def constraint_rows(form: Any) -> list[dict[str, Any]]:
    """The constraint rows of a form, each checked; a row without a context field is blank,
    a row with `remove` ticked is dropped."""
    out: list[dict[str, Any]] = []
    for n in _rows(form, "c"):
        key = f"c{n}-"
        context_name = _text(form, key + "contextName")
        if not context_name or form.get(key + "remove"):
            continue
        values = [line.strip() for line in _text(form, key + "values").splitlines()]
        raw = {
            "contextName": context_name,
            "operator": _text(form, key + "operator"),
            "values": [x for x in values if x],
            "inverted": form.get(key + "inverted") == "on",
            "caseInsensitive": form.get(key + "caseInsensitive") == "on",
        }
        try:
            parsed = v.constraint(raw, "row")
        except InvalidFlagInput as exc:
            raise _relabel(exc, "row", f"constraint {n}") from exc
        out.append(parsed.to_dict())
    return out


def constraints(form: Any) -> list[Any]:
    """A strategy's or segment's constraints from whichever view was saved."""
    if editor(form, "constraints") == "json":
        return v.items(json_list(form, "constraints"), "constraints")
    return constraint_rows(form)


def segment_ids(form: Any) -> list[int]:
    """The segments picked for a strategy (checkboxes; a typed list of ids also works)."""
    out: list[int] = []
    for value in form.getlist("segments") if hasattr(form, "getlist") else []:
        for token in str(value).replace(",", " ").split():
            if not token.isdigit():
                raise InvalidFlagInput(f"{token!r} is not a segment id", field="segments")
            if int(token) not in out:
                out.append(int(token))
    return out


def _per_mille(text: str, label: str) -> int:
    """A percentage as typed ("33.3") in Unleash's weight unit (per mille of 1000)."""
    try:
        pct = float(text.replace("%", "").strip())
    except ValueError:
        raise InvalidFlagInput(f"{text!r} is not a percentage", field=f"{label} weight") from None
    if not 0 <= pct <= 100:
        raise InvalidFlagInput("must be between 0 and 100 %", field=f"{label} weight")
    return round(pct * 10)


def variant_rows(form: Any) -> list[dict[str, Any]]:
    """The variant rows of a form in the admin API's shape.

    Unleash's weight semantics: a *fixed* variant takes the percentage typed for it; the
    *variable* ones share what is left equally (their typed weight is ignored), and the
    total is always 100 % (1000)."""
    out: list[dict[str, Any]] = []
    labels: list[str] = []
    for n in _rows(form, "v"):
        key, label = f"v{n}-", f"variant {n}"
        name = _text(form, key + "name")
        if not name or form.get(key + "remove"):
            continue
        raw: dict[str, Any] = {
            "name": name,
            "weightType": "fix" if form.get(key + "fixed") == "on" else "variable",
            "stickiness": _text(form, key + "stickiness") or "default",
        }
        if raw["weightType"] == "fix":
            weight = _text(form, key + "weight")
            if not weight:
                raise InvalidFlagInput("a fixed variant needs a weight", field=f"{label} weight")
            raw["weight"] = _per_mille(weight, label)
        kind = _text(form, key + "payloadType")
        if kind:
            raw["payload"] = {"type": kind, "value": str(form.get(key + "payloadValue") or "")}
        overrides = _text(form, key + "overrides")
        if overrides:  # kept from the JSON view; the form does not edit them
            try:
                raw["overrides"] = json.loads(overrides)
            except json.JSONDecodeError as exc:
                raise InvalidFlagInput("not valid JSON", field=f"{label} overrides") from exc
        out.append(raw)
        labels.append(label)
    try:  # checked here as a whole (the weights are shared out over the list)
        v.variants(out, "variants")
    except InvalidFlagInput as exc:
        m = re.match(r"^variants\[(\d+)\]", exc.field or "")
        if m is None:  # about the total: in percent, as the form shows weights
            words = re.sub(r"\b\d+\b", lambda w: percent(int(w.group(0))) + " %", exc.message)
            raise InvalidFlagInput(words, field="variants weight") from exc
        raise _relabel(exc, m.group(0), labels[int(m.group(1))]) from exc
    return out


def variants(form: Any) -> list[Any]:
    if editor(form, "variants") == "json":
        return v.items(json_list(form, "variants"), "variants")
    return variant_rows(form)


def percent(weight: int) -> str:
    """Unleash's weight (of 1000) as the form shows it: "33.3"."""
    return f"{weight / 10:.1f}".removesuffix(".0")
