"""The Prometheus SLI provider against a real Prometheus (Debian's `/usr/bin/prometheus`)
scraping a small local app, evaluated through an sli.yaml and slo.yaml like a sequence does."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from selfheal.control import SliScope
from selfheal.control.evaluation import Evaluator
from selfheal.control.prometheus import PrometheusSliProvider
from tests.conftest import free_port, require_tool

SLI = """spec_version: "1.0"
indicators:
  errors: sum(app_requests_total{service="$SERVICE", code="500"})
  requests: sum(app_requests_total{service="$SERVICE"})
  error_rate: sum(rate(app_requests_total{service="$SERVICE", code="500"}[$DURATION_SECONDS]))
"""
SLO = """spec_version: "1.0"
objectives:
  - sli: errors
    pass:
      - criteria: ["<=5"]
  - sli: requests
    pass:
      - criteria: [">=10"]
total_score: {pass: "90%", warning: "75%"}
"""
METRICS = """# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total{service="front-end",code="200"} 40
app_requests_total{service="front-end",code="500"} 3
app_requests_total{service="back-end",code="500"} 70
"""


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = METRICS.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def app_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def prometheus(tmp_path: Path, app_port: int) -> Iterator[str]:
    binary = require_tool("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until the app has been scraped (bounded)
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                r = httpx.get(f"{url}/api/v1/query", params={"query": "app_requests_total"})
                if r.status_code == 200 and r.json()["data"]["result"]:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not scrape the app in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


async def test_control_prometheus_sli_yaml_queries_real_prometheus(prometheus: str) -> None:
    provider = PrometheusSliProvider(prometheus)
    evaluator = Evaluator(problem_open=lambda _context: _none())
    evaluator.register("prometheus", provider)
    files = {"sli.yaml": SLI, "slo.yaml": SLO}

    async def read(uri: str) -> str | None:
        return files.get(uri)

    end = time.time()
    result = await evaluator.evaluate(
        context="ctx",
        scope=SliScope("website", "production", "front-end"),
        start=end - 300,
        end=end,
        read=read,
        problem_source=None,
    )
    assert result.values == {"errors": 3.0, "requests": 43.0}
    assert result.result == "pass" and result.score == 100

    # the placeholders pick the scope: back-end's errors fail the same objective
    back = await evaluator.evaluate(
        context="ctx",
        scope=SliScope("website", "production", "back-end"),
        start=end - 300,
        end=end,
        read=read,
        problem_source=None,
    )
    assert back.values["errors"] == 70.0 and back.result == "fail"

    # $DURATION_SECONDS renders as the timeframe; a constant counter has no rate
    queries = {"error_rate": SLI.splitlines()[4].split(": ", 1)[1]}
    scope = SliScope("website", "production", "front-end", queries=queries)
    assert "[60s]" in provider.render(queries["error_rate"], scope, end - 60, end)
    rate = None
    for _ in range(100):  # a rate needs two scrapes (1 s apart); bounded
        rate = await provider.get_sli("error_rate", scope, time.time() - 60, time.time())
        if rate is not None:
            break
        await asyncio.sleep(0.2)
    assert rate == 0.0
    assert await provider.get_sli("missing", scope, end - 60, end) is None


async def _none() -> bool | None:
    return None
