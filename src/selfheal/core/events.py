"""The CloudEvents 1.0 envelope with Keptn's extensions, and its HTTP bindings.

Input accepts Keptn's older spellings (specversion 0.2, `contenttype`); output is always 1.0.
We parse by hand rather than through the `cloudevents` SDK because the SDK rejects
specversion 0.2, which the seed's own `problemopen.json` uses; the tests check that what the
SDK writes (structured and binary) parses here unchanged.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from selfheal.core import limits
from selfheal.core.errors import InvalidInput
from selfheal.core.ids import new_id

KEPTN_EXTENSIONS = ("shkeptncontext", "triggeredid", "gitcommitid", "shkeptnspecversion")
_REQUIRED = ("id", "source", "type", "specversion")
_KNOWN = frozenset(
    {
        *_REQUIRED,
        "time",
        "datacontenttype",
        "contenttype",
        "data",
        "subject",
        "dataschema",
        "data_base64",
    }
)
_SPECVERSIONS = frozenset({"1.0", "0.2", "0.3"})
KEPTN_SPEC_VERSION = "0.2.4"


class InvalidEvent(InvalidInput):
    """A CloudEvent that cannot be accepted."""


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_epoch(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def epoch_from_iso(value: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (`Z` or an offset; `t`/`z` too; any
    number of fractional digits, as Go's RFC3339Nano writes them)."""
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).timestamp()


APPLIED_HEADER = "Selfheal-Applied"
"""Bus message header of an event its emitter applied in the step that stored it."""


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One event. `data` is the decoded JSON payload (usually a dict)."""

    type: str
    source: str
    data: Any = None
    id: str = field(default_factory=new_id)
    time: str = field(default_factory=utc_now_iso)
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
    subject: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)
    applied: bool = field(default=False, compare=False, repr=False)
    """Not part of the CloudEvent (never serialised, never stored): the control plane's step
    that stored this event applied it in the same transaction, so its copy from the bus needs
    no second look by any replica's engine. Carried on the bus as the `APPLIED_HEADER`
    message header; an event without it (the outbox relay's copy, an older replica's) is
    looked at as before."""

    @property
    def shkeptncontext(self) -> str | None:
        return self.extensions.get("shkeptncontext")

    @property
    def triggeredid(self) -> str | None:
        return self.extensions.get("triggeredid")

    def payload(self) -> dict[str, Any]:
        """`data` as a dict (an empty one when it is not an object)."""
        return self.data if isinstance(self.data, dict) else {}

    @property
    def project(self) -> str | None:
        return _str_or_none(self.payload().get("project"))

    @property
    def stage(self) -> str | None:
        return _str_or_none(self.payload().get("stage"))

    @property
    def service(self) -> str | None:
        return _str_or_none(self.payload().get("service"))

    def with_extensions(self, **extensions: str | None) -> CloudEvent:
        merged = dict(self.extensions)
        merged.update({k: v for k, v in extensions.items() if v is not None})
        return replace(self, extensions=merged)

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object (CloudEvents 1.0)."""
        out: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        out.update(self.extensions)
        if "shkeptnspecversion" not in out and self.type.startswith("sh.keptn."):
            out["shkeptnspecversion"] = KEPTN_SPEC_VERSION
        out["data"] = self.data
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, obj: Any, *, fill_defaults: bool = False) -> CloudEvent:
        """Build from a structured-mode object; `fill_defaults` adds a missing id/time/specversion
        (the Keptn API does this for events sent by hand)."""
        if not isinstance(obj, dict):
            raise InvalidEvent("a CloudEvent must be a JSON object", field="body")
        if fill_defaults:
            obj = {"id": new_id(), "specversion": "1.0", **obj}
            if not obj.get("source"):
                obj["source"] = "api"
        for name in _REQUIRED:
            value = obj.get(name)
            if value is None or value == "":
                raise InvalidEvent(f"required attribute '{name}' is missing", field=name)
            if not isinstance(value, str):
                raise InvalidEvent(f"attribute '{name}' must be a string", field=name)
        if obj["specversion"] not in _SPECVERSIONS:
            raise InvalidEvent(
                f"unsupported specversion {obj['specversion']!r} (expected 1.0)",
                field="specversion",
            )
        _check_type(obj["type"])
        limits.event_type(obj["type"])
        limits.attributes(obj)
        ctype = obj.get("datacontenttype") or obj.get("contenttype") or "application/json"
        if not isinstance(ctype, str):
            raise InvalidEvent(
                "attribute 'datacontenttype' must be a string", field="datacontenttype"
            )
        time_value = obj.get("time") or utc_now_iso()
        if not isinstance(time_value, str):
            raise InvalidEvent("attribute 'time' must be an RFC 3339 string", field="time")
        try:
            epoch_from_iso(time_value)
        except ValueError as exc:
            raise InvalidEvent(
                f"attribute 'time' is not RFC 3339: {time_value!r}", field="time"
            ) from exc
        extensions: dict[str, str] = {}
        for key, value in obj.items():
            if key in _KNOWN or value is None:
                continue
            if key in KEPTN_EXTENSIONS and not isinstance(value, str):
                raise InvalidEvent(f"extension '{key}' must be a string", field=key)
            if isinstance(value, str | int | bool | float):
                extensions[key] = str(value)
        subject = obj.get("subject")
        data = obj.get("data")
        if data is None and obj.get("data_base64") is not None:
            data = _decode_base64(obj["data_base64"], ctype)
        limits.names_in(data)
        return cls(
            type=obj["type"],
            source=obj["source"],
            id=obj["id"],
            data=data,
            time=time_value,
            specversion="1.0",
            datacontenttype=ctype,
            subject=subject if isinstance(subject, str) else None,
            extensions=extensions,
        )

    @classmethod
    def from_json(cls, body: bytes | str, *, fill_defaults: bool = False) -> CloudEvent:
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"body is not valid JSON: {exc}", field="body") from exc
        return cls.from_dict(obj, fill_defaults=fill_defaults)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_BAD_TYPE = re.compile(r"\s|^\.|\.$|\.\.|(^|\.)[*>](\.|$)")


def _check_type(value: str) -> None:
    """Types become NATS subjects: no spaces, no empty tokens, no wildcard tokens."""
    if _BAD_TYPE.search(value):
        raise InvalidEvent(f"attribute 'type' is not a valid event type: {value!r}", field="type")


def _decode_base64(value: Any, content_type: str) -> Any:
    if not isinstance(value, str):
        raise InvalidEvent("attribute 'data_base64' must be a string", field="data_base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise InvalidEvent("attribute 'data_base64' is not base64", field="data_base64") from exc
    return _decode_data(raw, content_type, field="data_base64")


def _is_json(content_type: str) -> bool:
    return content_type in ("application/json", "text/json", "") or content_type.endswith("+json")


def _decode_data(raw: bytes, content_type: str, *, field: str) -> Any:
    """JSON content types become values; anything else stays text (data must be JSON-able)."""
    if _is_json(content_type.split(";", maxsplit=1)[0].strip().lower()):
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"body is not valid JSON: {exc}", field=field) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"{field} is neither JSON nor UTF-8 text", field=field) from exc


def _header_value(value: str) -> str:
    """Undo what HTTP does to a ce-* header: ASGI servers hand UTF-8 bytes over as latin-1,
    and the HTTP binding percent-encodes non-printable characters, space, `"` and `%`."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return unquote(value) if "%" in value else value


_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def parse_http(
    headers: Mapping[str, str], body: bytes, *, fill_defaults: bool = False
) -> CloudEvent:
    """Parse a CloudEvent from an HTTP request in structured or binary content mode.

    `headers` must be case-insensitive (Starlette's and httpx's are).
    """
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if headers.get("ce-specversion") is not None or headers.get("ce-type") is not None:
        attrs: dict[str, Any] = {}
        for key, value in headers.items():
            lower = key.lower()
            if lower.startswith("ce-"):
                attrs[lower[3:]] = _header_value(value)
        attrs["datacontenttype"] = (headers.get("content-type") or "").strip() or "application/json"
        if body:
            attrs["data"] = _decode_data(body, content_type, field="data")
        return CloudEvent.from_dict(attrs, fill_defaults=fill_defaults)
    if content_type not in ("application/cloudevents+json", "application/json", ""):
        raise InvalidEvent(
            f"unsupported content type {content_type!r}: send application/cloudevents+json "
            "(structured) or ce-* headers (binary)",
            field="content-type",
        )
    return CloudEvent.from_json(body, fill_defaults=fill_defaults)


def to_binary_http(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary content mode: attributes as ce-* headers, data as the body."""
    attrs = event.to_dict()
    data = attrs.pop("data")
    ctype = attrs.pop("datacontenttype")
    headers = {f"ce-{k}": quote(str(v), safe=_HEADER_SAFE) for k, v in attrs.items()}
    headers["content-type"] = ctype
    if isinstance(data, str) and not _is_json(ctype.split(";", maxsplit=1)[0].strip().lower()):
        return headers, data.encode()
    return headers, json.dumps(data).encode()
