"""An idle SDK stream is never dropped, whatever the SDK's read timeout.

UnleashClient reads its stream with `request_timeout` as the socket timeout: if the server
stays silent longer than that, the SDK drops the stream and reconnects after a back-off, and a
flip made meanwhile reaches the app seconds late. The server's keep-alive comments must come
more often than any usual timeout, so over an idle stretch the SDK opens exactly one stream.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import selfheal_up

pytestmark = pytest.mark.slow


def streams_opened(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "selfheal_flags_streams_opened":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("selfheal_flags_streams_opened is not exposed")


def test_idle_stream_survives_a_short_sdk_timeout(tmp_path: Path) -> None:
    from UnleashClient import UnleashClient

    with selfheal_up(tmp_path) as srv:
        admin = {"Authorization": srv.admin_token}
        base = f"{srv.url}/api/admin/projects/default/features"
        assert httpx.post(base, json={"name": "idle.flag"}, headers=admin).status_code < 300
        client = UnleashClient(
            url=f"{srv.url}/api",
            app_name="idle-test",
            environment="production",
            disable_metrics=True,
            disable_registration=True,
            request_timeout=3,
            custom_headers={"Authorization": srv.client_token},
            cache_directory=tempfile.mkdtemp(dir=tmp_path),
            experimental_mode={"type": "streaming"},
        )
        client.initialize_client()
        try:
            deadline = time.monotonic() + 10
            while not client.feature_definitions() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.feature_definitions(), "the SDK never hydrated"
            time.sleep(7)  # idle for more than two SDK read timeouts
            assert streams_opened(srv.url) == 1
            httpx.post(f"{base}/idle.flag/environments/production/on", headers=admin)
            deadline = time.monotonic() + 10
            while not client.is_enabled("idle.flag") and time.monotonic() < deadline:
                time.sleep(0.01)
            assert client.is_enabled("idle.flag")
            assert streams_opened(srv.url) == 1
        finally:
            client.destroy()
