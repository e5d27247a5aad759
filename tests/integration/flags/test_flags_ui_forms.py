"""The console's editing forms (constraint rows with the operator picker, the segment picker,
variant rows with fixed and variable weights), through the real app: what a form saves is
what the Unleash client API serves, and a bad row is an error naming the row and field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.flags.api import forms
from selfheal.flags.engine import OPERATORS
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.integration.flags.test_flags_ui_console import ADMIN, API, PASSWORD, flash

CLIENT = {"Authorization": "default:production.client-secret", "Unleash-Client-Spec": "5.1.0"}
FLAG = "/flags/default/checkout"


@pytest.fixture
async def ui(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    container = await build(
        settings.model_copy(update={"admin_password": SecretStr(PASSWORD)}), bus=MemoryBus()
    )
    await container.start()
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as client:
            r = await client.post("/login", data={"username": "admin", "password": PASSWORD})
            assert r.status_code == 303
            r = await client.post(API, json={"name": "checkout"}, headers=ADMIN)
            assert r.status_code == 201
            yield client
    finally:
        await container.stop()


async def client_feature(ui: httpx.AsyncClient, name: str = "checkout") -> dict[str, Any]:
    """The flag as an SDK reads it."""
    body = (await ui.get("/api/client/features", headers=CLIENT)).json()
    feature: dict[str, Any] = next(f for f in body["features"] if f["name"] == name)
    return feature


def test_the_operator_picker_offers_every_operator_the_engine_knows() -> None:
    offered = [op for _, ops in forms.OPERATOR_GROUPS for op, _ in ops]
    assert sorted(offered) == sorted(OPERATORS)


async def test_a_strategy_saved_from_constraint_rows_and_a_picked_segment_reaches_the_sdk(
    ui: httpx.AsyncClient,
) -> None:
    r = await ui.post(
        "/flags/segments",
        data={
            "editor": "form",
            "name": "beta",
            "c1-contextName": "userId",
            "c1-operator": "IN",
            "c1-values": "alice\nbob\n",
        },
    )
    assert "note" in flash(r), flash(r)
    [segment] = (await ui.get("/api/admin/segments", headers=ADMIN)).json()["segments"]
    assert segment["constraints"][0]["values"] == ["alice", "bob"]

    form = {
        "editor": "form",
        "environment": "production",
        "name": "flexibleRollout",
        "parameters": "rollout=100\nstickiness=default\ngroupId=checkout",
        "c1-contextName": "appVersion",
        "c1-operator": "SEMVER_GT",
        "c1-values": "2.0.0",
        "c1-inverted": "on",
        "c2-contextName": "country",
        "c2-operator": "STR_STARTS_WITH",
        "c2-values": "de\nat",
        "c2-caseInsensitive": "on",
        "c3-contextName": "",  # the blank row the form offers
        "c3-operator": "IN",
        "segments": str(segment["id"]),
        "constraints": "[ignored, the form view was saved]",
    }
    r = await ui.post(FLAG + "/strategies", data=form)
    assert flash(r) == {"note": "strategy saved"}
    [strategy] = (await client_feature(ui))["strategies"]
    assert strategy["segments"] == [segment["id"]]
    served = (await ui.get("/api/client/features", headers=CLIENT)).json()["segments"]
    assert [s["name"] for s in served] == ["beta"]
    first, second = strategy["constraints"]
    assert (first["contextName"], first["value"], first["inverted"]) == (
        "appVersion",
        "2.0.0",
        True,
    )
    assert (second["operator"], second["values"], second["caseInsensitive"]) == (
        "STR_STARTS_WITH",
        ["de", "at"],
        True,
    )

    page = (await ui.get(FLAG)).text  # the rows come back filled in, the segment ticked
    assert 'name="c2-contextName" value="country"' in page
    assert '<option value="STR_STARTS_WITH" selected>' in page
    assert f'name="segments" value="{segment["id"]}" checked' in page

    # remove the first row, keep the second: the SDK sees one constraint
    edit = {**form, "id": strategy["id"], "c1-remove": "on", "segments": ""}
    r = await ui.post(FLAG + "/strategies", data=edit)
    assert flash(r) == {"note": "strategy saved"}
    [strategy] = (await client_feature(ui))["strategies"]
    assert [c["contextName"] for c in strategy["constraints"]] == ["country"]
    assert strategy.get("segments", []) == []

    # the JSON view is the alternative
    json_form = {**edit, "editor": "json", "constraints": "[]"}
    r = await ui.post(FLAG + "/strategies", data=json_form)
    assert flash(r) == {"note": "strategy saved"}
    assert (await client_feature(ui))["strategies"][0]["constraints"] == []


@pytest.mark.parametrize(
    ("rows", "field", "words"),
    [
        ({"c1-contextName": "userId", "c1-operator": "LIKE"}, "constraint 1 operator", "unknown"),
        (
            {"c1-contextName": "age", "c1-operator": "NUM_GT", "c1-values": "old"},
            "constraint 1 value",
            "not a number",
        ),
        (
            {"c1-contextName": "age", "c1-operator": "NUM_GT", "c1-values": "1\n2"},
            "constraint 1 value",
            "single",
        ),
        (
            {
                "c1-contextName": "userId",
                "c1-operator": "IN",
                "c1-values": "a",
                "c2-contextName": "ip",
                "c2-operator": "IN_CIDR",
                "c2-values": "10.0.0.0/8\nnot-a-net",
            },
            "constraint 2 values[1]",
            "not an IP network",
        ),
        ({"segments": "7"}, "segments[0]", "unknown segment"),
        ({"segments": "beta"}, "segments", "not a segment id"),
    ],
)
async def test_a_bad_constraint_row_is_a_form_error_naming_the_row_and_field(
    ui: httpx.AsyncClient, rows: dict[str, str], field: str, words: str
) -> None:
    form = {"editor": "form", "environment": "production", "name": "default", **rows}
    r = await ui.post(FLAG + "/strategies", data=form)
    assert r.status_code == 303
    error = flash(r).get("error", "")
    assert f"field '{field}'" in error and words in error, error
    assert (await client_feature(ui))["strategies"] == []  # nothing stored


async def test_variant_rows_follow_unleash_weight_semantics_and_reach_the_sdk(
    ui: httpx.AsyncClient,
) -> None:
    rows = {
        "editor": "form",
        "environment": "production",
        "v1-name": "control",
        "v1-weight": "99",  # variable: the typed weight is ignored, it gets a share
        "v2-name": "blue",
        "v2-fixed": "on",
        "v2-weight": "20",
        "v2-stickiness": "userId",
        "v2-payloadType": "json",
        "v2-payloadValue": '{"color": "blue"}',
        "v3-name": "red",
        "v4-name": "",  # the blank row
    }
    r = await ui.post(FLAG + "/variants", data=rows)
    assert flash(r) == {"note": "variants of production saved"}
    variants = {v["name"]: v for v in (await client_feature(ui))["variants"]}
    assert {n: (v["weight"], v["weightType"]) for n, v in variants.items()} == {
        "control": (400, "variable"),
        "blue": (200, "fix"),
        "red": (400, "variable"),
    }
    assert variants["blue"]["stickiness"] == "userId"
    assert variants["blue"]["payload"] == {"type": "json", "value": '{"color": "blue"}'}

    page = (await ui.get(FLAG)).text
    assert 'name="v2-weight" value="20"' in page and 'name="v1-weight" value="40"' in page

    r = await ui.post(FLAG + "/variants", data={**rows, "v2-weight": "33.3", "v3-remove": "on"})
    assert "note" in flash(r)
    variants = {v["name"]: v for v in (await client_feature(ui))["variants"]}
    assert {n: v["weight"] for n, v in variants.items()} == {"control": 667, "blue": 333}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"v2-weight": ""}, "variant 2 weight", "needs a weight"),
        ({"v2-weight": "lots"}, "variant 2 weight", "not a percentage"),
        ({"v2-weight": "120"}, "variant 2 weight", "between 0 and 100"),
        ({"v2-payloadValue": "{oops"}, "variant 2 payload.value", "not valid JSON"),
        ({"v3-name": "blue"}, "variant 3 name", "used twice"),
        (
            {"v1-fixed": "on", "v1-weight": "90", "v3-remove": "on"},
            "variants weight",
            "110 %",
        ),
    ],
)
async def test_a_bad_variant_row_is_a_form_error_naming_the_row_and_field(
    ui: httpx.AsyncClient, change: dict[str, str], field: str, words: str
) -> None:
    rows = {
        "editor": "form",
        "environment": "production",
        "v1-name": "control",
        "v2-name": "blue",
        "v2-fixed": "on",
        "v2-weight": "20",
        "v2-payloadType": "json",
        "v2-payloadValue": "{}",
        "v3-name": "red",
        **change,
    }
    r = await ui.post(FLAG + "/variants", data=rows)
    error = flash(r).get("error", "")
    assert f"field '{field}'" in error and words in error, error
    assert (await client_feature(ui)).get("variants", []) == []
