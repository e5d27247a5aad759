"""The official Python SDK and the OpenFeature providers against `selfheal up`, unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.integration.flags.flagset import BASE, CONTEXT, ENV, EXPECTED_VARIANTS, create_flag_set
from tests.support.server import Server, selfheal_up

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, bool]]]:
    with selfheal_up(tmp_path_factory.mktemp("sdk")) as srv:
        with httpx.Client(base_url=srv.url, headers={"Authorization": srv.admin_token}) as http:
            expected = create_flag_set(http)
        yield srv, expected


def wait_for(check: Callable[[], bool], seconds: float = 15.0) -> float:
    """Seconds until `check()` holds (bounded; fails after `seconds`)."""
    start = time.monotonic()
    for _ in range(int(seconds / 0.002)):
        if check():
            return time.monotonic() - start
        time.sleep(0.002)
    raise AssertionError("condition not met in time")


def flip(srv: Server, name: str, on: bool) -> None:
    r = httpx.post(
        f"{srv.url}{BASE}/{name}{ENV}/{'on' if on else 'off'}",
        headers={"Authorization": srv.admin_token},
    )
    assert r.status_code == 200


def unleash_client(srv: Server, **kw: Any) -> Any:
    from UnleashClient import UnleashClient

    client = UnleashClient(
        url=srv.url + "/api",
        app_name=f"py-sdk-{uuid.uuid4().hex[:8]}",
        environment="production",
        custom_headers={"Authorization": srv.client_token},
        refresh_interval=1,
        metrics_interval=1,
        cache_directory=None,
        **kw,
    )
    client.initialize_client()
    return client


def check_answers(client: Any, expected: dict[str, bool]) -> None:
    ctx = {**CONTEXT, "currentTime": "2025-06-01T00:00:00Z"}
    wait_for(lambda: client.is_enabled("s-default", ctx))
    got = {name: client.is_enabled(name, ctx) for name in expected}
    assert got == expected
    for name, variant in EXPECTED_VARIANTS.items():
        assert client.get_variant(name, ctx)["name"] == variant
    other = client.get_variant("v-feature", {**ctx, "userId": "u9"})
    assert other["name"] == "blue"
    assert other["payload"] == {"type": "json", "value": '{"color": "blue"}'}
    assert client.get_variant("v-strategy", ctx)["payload"] == {"type": "string", "value": "go"}


@pytest.mark.parametrize("mode", ["polling", "streaming"])
def test_unleash_client_sees_what_admin_set_and_flips(
    server: tuple[Server, dict[str, bool]],
    mode: str,
    record_property: Callable[[str, object], None],
) -> None:
    srv, expected = server
    extra = {"experimental_mode": {"type": "streaming"}} if mode == "streaming" else {}
    client = unleash_client(srv, **extra)
    try:
        check_answers(client, expected)
        latencies = []
        for _ in range(3):
            flip(srv, "s-default", False)
            start = time.monotonic()
            wait_for(lambda: not client.is_enabled("s-default"))
            latencies.append(time.monotonic() - start)
            flip(srv, "s-default", True)
            wait_for(lambda: client.is_enabled("s-default"))
        record_property(f"{mode}_flip_seconds", latencies)
        print(f"{mode}: flip seen after {[round(x * 1000, 1) for x in latencies]} ms")
    finally:
        client.destroy()


def test_sdk_metrics_are_stored_per_flag(server: tuple[Server, dict[str, bool]]) -> None:
    srv, _expected = server
    client = unleash_client(srv)
    try:
        wait_for(lambda: client.is_enabled("s-default"))
        for _ in range(5):
            client.is_enabled("c-in", CONTEXT)

        def reported() -> bool:
            r = httpx.get(
                f"{srv.url}/api/admin/client-metrics/features/c-in",
                headers={"Authorization": srv.admin_token},
            )
            return sum(d["yes"] for d in r.json()["data"]) >= 5

        wait_for(reported, 20)
    finally:
        client.destroy()


def test_openfeature_unleash_provider(server: tuple[Server, dict[str, bool]]) -> None:
    from openfeature import api
    from openfeature.contrib.provider.unleash import UnleashProvider
    from openfeature.evaluation_context import EvaluationContext

    srv, _expected = server
    provider = UnleashProvider(
        url=srv.url + "/api", app_name=f"of-{uuid.uuid4().hex[:6]}", api_token=srv.client_token
    )
    api.set_provider(provider)
    try:
        client = api.get_client()
        ctx = EvaluationContext(targeting_key="u1", attributes={"tier": "gold"})
        wait_for(lambda: client.get_boolean_value("s-default", False, ctx))
        assert client.get_boolean_value("c-in", False, ctx) is True
        assert client.get_boolean_value("c-not-in", True, ctx) is False
        assert client.get_boolean_value("x-off", True, ctx) is False
    finally:
        api.shutdown()


def test_openfeature_ofrep_provider(server: tuple[Server, dict[str, bool]]) -> None:
    from openfeature import api
    from openfeature.contrib.provider.ofrep import OFREPProvider
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import Reason

    srv, _expected = server
    token = srv.client_token
    api.set_provider(OFREPProvider(srv.url, headers_factory=lambda: {"Authorization": token}))
    try:
        client = api.get_client()
        ctx = EvaluationContext(
            targeting_key="u1", attributes={"tier": "gold", "email": "Ann@Example.com"}
        )
        details = client.get_boolean_details("c-in", False, ctx)
        assert details.value is True
        assert details.reason in (Reason.TARGETING_MATCH, Reason.SPLIT, "TARGETING_MATCH")
        assert client.get_boolean_value("c-not-in", True, ctx) is False
        assert client.get_boolean_value("x-off", True, ctx) is False
        assert client.get_object_value("v-feature", {}, EvaluationContext(targeting_key="u9")) == {
            "color": "blue"
        }
        assert client.get_string_value("v-strategy", "", ctx) == "go"
        missing = client.get_boolean_details("no-such-flag", True, ctx)
        assert missing.value is True and missing.error_code is not None
        flip(srv, "c-in", False)
        assert client.get_boolean_value("c-in", True, ctx) is False
        flip(srv, "c-in", True)
    finally:
        api.shutdown()
