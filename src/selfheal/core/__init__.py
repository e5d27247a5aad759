"""Pure building blocks shared by every context: events, time, ids, errors. No I/O."""

from __future__ import annotations

from selfheal.core import pages
from selfheal.core.clock import Clock, ManualClock, SystemClock
from selfheal.core.documents import SpecError
from selfheal.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LoginRequired,
    NotFound,
    SelfhealError,
    Unauthorized,
    Unavailable,
)
from selfheal.core.events import (
    APPLIED_HEADER,
    CloudEvent,
    InvalidEvent,
    epoch_from_iso,
    iso_from_epoch,
    parse_http,
    to_binary_http,
    utc_now_iso,
)
from selfheal.core.ids import new_id
from selfheal.core.keptn import TaskType, parse_type, sequence_event, task_event

__all__ = [
    "APPLIED_HEADER",
    "Clock",
    "CloudEvent",
    "Conflict",
    "Forbidden",
    "InvalidEvent",
    "InvalidInput",
    "LoginRequired",
    "ManualClock",
    "NotFound",
    "SelfhealError",
    "SpecError",
    "SystemClock",
    "TaskType",
    "Unauthorized",
    "Unavailable",
    "epoch_from_iso",
    "iso_from_epoch",
    "new_id",
    "pages",
    "parse_http",
    "parse_type",
    "sequence_event",
    "task_event",
    "to_binary_http",
    "utc_now_iso",
]
