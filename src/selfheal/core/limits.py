"""How long the strings that become NATS subjects, index keys and metric labels may be.

Every intake (the event API, Dynatrace, Alertmanager, the Keptn API, the flags admin API)
checks these before anything is stored, so one oversized field is a 400 naming it, not a
NATS protocol error (control lines over 4 KB) or an index key the database refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from selfheal.core.errors import InvalidInput

MAX_TYPE = 255
MAX_SOURCE = 512
MAX_ID = 256
MAX_CONTEXT = 128
MAX_NAME = 100
"""project, stage and service names (Keptn's own limit for a project is far lower)."""
MAX_TITLE = 1024

_SUBJECT = re.compile(r"^[A-Za-z0-9_\-:.]+$")
"""An event type is a NATS subject: tokens of these characters only (no spaces, `*`, `>`)."""
_NAME = re.compile(r"^[^\x00-\x1f\x7f/]+$")
"""A project/stage/service name is a path segment and a label value: no controls, no `/`."""

NAMES = ("project", "stage", "service")
EXTENSIONS = {"shkeptncontext": MAX_CONTEXT, "triggeredid": MAX_ID, "gitcommitid": MAX_ID}


def bounded(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(f"is {len(value)} characters long; at most {limit} allowed", field=field)
    return value


def event_type(value: str, field: str = "type") -> str:
    bounded(value, field, MAX_TYPE)
    if not _SUBJECT.match(value):
        raise InvalidInput(
            "may hold only letters, digits, '.', '_', '-' and ':' (it becomes a NATS subject)",
            field=field,
        )
    return value


def name(value: str, field: str) -> str:
    bounded(value, field, MAX_NAME)
    if value and not _NAME.match(value):
        raise InvalidInput("must not contain '/' or control characters", field=field)
    return value


def names_in(data: Any, prefix: str = "data.") -> None:
    """`project`, `stage`, `service` of an event's data, when present."""
    if not isinstance(data, Mapping):
        return
    for key in NAMES:
        value = data.get(key)
        if isinstance(value, str):
            name(value, f"{prefix}{key}")


def attributes(obj: Mapping[str, Any]) -> None:
    """A CloudEvent's identifying attributes and extensions."""
    bounded(str(obj.get("source") or ""), "source", MAX_SOURCE)
    bounded(str(obj.get("id") or ""), "id", MAX_ID)
    for key, limit in EXTENSIONS.items():
        value = obj.get(key)
        if isinstance(value, str):
            bounded(value, key, limit)
