"""CloudEvents in both HTTP modes, as the `cloudevents` SDK writes them, and Keptn's old spellings."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent as SdkEvent
from cloudevents.http import from_http

from selfheal.core import CloudEvent, InvalidEvent, epoch_from_iso, parse_http, to_binary_http
from tests.support.paths import SEED

KEPTN_ATTRS = {
    "type": "sh.keptn.event.get-action.triggered",
    "source": "shipyard-controller",
    "shkeptncontext": "2d343334-3932-4231-b631-383433353839",
    "triggeredid": "f1b7a3c2-0000-4000-8000-000000000001",
}
DATA = {"project": "website", "stage": "production", "service": "front-end", "labels": {}}


def headers(raw: dict[str, str]) -> httpx.Headers:
    """Case-insensitive, as Starlette's and httpx's are."""
    return httpx.Headers(raw)


def test_structured_mode_from_the_sdk() -> None:
    sdk = SdkEvent(KEPTN_ATTRS, DATA)
    raw_headers, body = to_structured(sdk)
    event = parse_http(headers(raw_headers), body)
    assert event.id == sdk["id"]
    assert event.type == KEPTN_ATTRS["type"]
    assert event.source == "shipyard-controller"
    assert event.shkeptncontext == KEPTN_ATTRS["shkeptncontext"]
    assert event.triggeredid == KEPTN_ATTRS["triggeredid"]
    assert event.data == DATA
    assert (event.project, event.stage, event.service) == ("website", "production", "front-end")
    assert epoch_from_iso(event.time) == pytest.approx(epoch_from_iso(sdk["time"]))


def test_binary_mode_from_the_sdk() -> None:
    sdk = SdkEvent({**KEPTN_ATTRS, "subject": "front-end"}, DATA)
    raw_headers, body = to_binary(sdk)
    event = parse_http(headers(raw_headers), body)
    assert event.id == sdk["id"]
    assert event.type == KEPTN_ATTRS["type"]
    assert event.subject == "front-end"
    assert event.shkeptncontext == KEPTN_ATTRS["shkeptncontext"]
    assert event.data == DATA
    assert event.datacontenttype == "application/json"


def test_structured_data_base64_is_decoded() -> None:
    sdk = SdkEvent({"type": "selfheal.blob", "source": "tests"}, b'{"a": 1}')
    raw_headers, body = to_structured(sdk)
    assert b"data_base64" in body
    assert parse_http(headers(raw_headers), body).data == {"a": 1}


def test_binary_text_body_stays_text() -> None:
    event = parse_http(
        headers(
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "a.b"}
            | {"content-type": "text/plain; charset=utf-8"}
        ),
        "grüße".encode(),
    )
    assert event.data == "grüße"
    assert event.datacontenttype == "text/plain; charset=utf-8"


def test_what_we_emit_the_sdk_reads() -> None:
    ours = CloudEvent(
        type=KEPTN_ATTRS["type"],
        source="selfheal/control",
        data=DATA,
        extensions={"shkeptncontext": "ctx", "triggeredid": "t1"},
    )
    structured = from_http({"content-type": "application/cloudevents+json"}, ours.to_json())
    assert structured["id"] == ours.id
    assert structured["shkeptncontext"] == "ctx"
    assert structured["shkeptnspecversion"]
    assert structured.data == DATA
    bin_headers, bin_body = to_binary_http(ours)
    binary = from_http(bin_headers, bin_body)
    assert binary["type"] == ours.type
    assert binary["triggeredid"] == "t1"
    assert binary.data == DATA


def test_binary_round_trip_keeps_unicode_and_spaces_in_attributes() -> None:
    ours = CloudEvent(type="selfheal.note", source="/app/für mich", subject='a "quoted" 100%')
    bin_headers, body = to_binary_http(ours)
    assert all(v.isascii() and " " not in v for v in bin_headers.values())
    back = parse_http(headers(bin_headers), body)
    assert back.source == "/app/für mich"
    assert back.subject == 'a "quoted" 100%'


def test_binary_header_bytes_as_latin1_are_read_as_utf8() -> None:
    """An ASGI server hands raw UTF-8 header bytes over decoded as latin-1."""
    mangled = "/app/für".encode().decode("latin-1")
    event = parse_http(
        {"ce-specversion": "1.0", "ce-id": "1", "ce-source": mangled, "ce-type": "a.b"}, b""
    )
    assert event.source == "/app/für"


def test_keptn_0_2_problem_event_from_the_seed_is_accepted_and_emitted_as_1_0() -> None:
    body = (SEED / "problemopen.json").read_bytes()
    event = parse_http(headers({"content-type": "application/json"}), body)
    assert event.type == "sh.keptn.event.problem.open"
    assert event.datacontenttype == "application/json"
    assert event.shkeptncontext == "2d343334-3932-4231-b631-383433353839"
    assert event.payload()["ProblemID"] == "381"
    assert event.project == "website"
    out = json.loads(event.to_json())
    assert out["specversion"] == "1.0"
    assert out["datacontenttype"] == "application/json"
    assert "contenttype" not in out
    assert out["label"] == "Problem open"
    assert out["time"] == "2020-05-04T03:32:37.423Z"
    assert CloudEvent.from_json(event.to_json()).to_json() == event.to_json()


def test_go_nanosecond_and_lowercase_times_are_rfc3339() -> None:
    for value in ("2020-05-04T03:32:37.423456789Z", "2020-05-04t03:32:37z"):
        event = CloudEvent.from_dict(
            {"specversion": "1.0", "id": "1", "source": "s", "type": "a.b", "time": value}
        )
        assert epoch_from_iso(event.time) == pytest.approx(1588563157, abs=1)


def test_fill_defaults_adds_id_time_and_source_for_hand_written_events() -> None:
    event = parse_http(
        headers({"content-type": "application/json"}),
        json.dumps({"type": "sh.keptn.events.problem", "data": {"State": "OPEN"}}).encode(),
        fill_defaults=True,
    )
    assert event.id and event.time and event.source == "api"


def invalid(raw_headers: dict[str, str], body: bytes | str, **kw: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_http(headers(raw_headers), body if isinstance(body, bytes) else body.encode(), **kw)
    return caught.value


STRUCTURED = {"content-type": "application/cloudevents+json"}
GOOD: dict[str, Any] = {"specversion": "1.0", "id": "1", "source": "s", "type": "a.b"}


@pytest.mark.parametrize("missing", ["type", "id", "source", "specversion"])
def test_a_missing_required_attribute_is_named(missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    error = invalid(STRUCTURED, json.dumps(body))
    assert error.field == missing
    assert missing in str(error)


def test_binary_mode_missing_type_is_named() -> None:
    error = invalid({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s"}, b"{}")
    assert error.field == "type"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "body"),
        ("[1, 2]", "body"),
        (json.dumps({**GOOD, "specversion": "9.9"}), "specversion"),
        (json.dumps({**GOOD, "type": 7}), "type"),
        (json.dumps({**GOOD, "type": "a..b"}), "type"),
        (json.dumps({**GOOD, "type": "sh.keptn.>"}), "type"),
        (json.dumps({**GOOD, "type": "has space"}), "type"),
        (json.dumps({**GOOD, "time": "yesterday"}), "time"),
        (json.dumps({**GOOD, "shkeptncontext": 5}), "shkeptncontext"),
        (json.dumps({**GOOD, "data_base64": "***"}), "data_base64"),
    ],
)
def test_bad_structured_input_names_the_field(body: str, field: str) -> None:
    assert invalid(STRUCTURED, body).field == field


def test_binary_non_json_body_with_json_content_type() -> None:
    error = invalid(
        {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "a.b"}
        | {"content-type": "application/json"},
        b"{not json",
    )
    assert error.field == "data"


def test_wrong_content_type_is_named() -> None:
    error = invalid({"content-type": "text/plain"}, json.dumps(GOOD))
    assert error.field == "content-type"
    assert "text/plain" in str(error)
