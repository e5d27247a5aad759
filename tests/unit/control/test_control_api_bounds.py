"""The 500s schemathesis found (issue 12, item 13): out-of-range numbers are 400s naming the
parameter, and every path parameter is declared in the OpenAPI document."""

from __future__ import annotations

import re

import pytest

from tests.unit.control.conftest import Harness

HUGE = str(2**70)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (
            "/api/configuration-service/v1/project/website/stage/production/resource/x.yaml"
            f"?revision=-{HUGE}",
            "revision",
        ),
        ("/api/controlPlane/v1/sequence/website?nextPageKey=" + HUGE, "nextPageKey"),
        (f"/api/v1/sequences?limit=-5&offset={HUGE}", "limit"),
        (f"/api/v1/sequences?offset={HUGE}", "offset"),
    ],
)
async def test_control_api_out_of_range_numbers_are_400(
    harness: Harness, url: str, field: str
) -> None:
    await harness.setup_website()
    r = await harness.http.get(url)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


async def test_openapi_declares_every_path_parameter(harness: Harness) -> None:
    spec = (await harness.http.get("/api/openapi.json")).json()
    missing = []
    for path, ops in spec["paths"].items():
        names = set(re.findall(r"{([^}:]+)", path))
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            if names - declared:
                missing.append(f"{method.upper()} {path}: {sorted(names - declared)}")
    assert missing == []
