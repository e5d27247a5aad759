"""A real Prometheus as the SLI source and a real Alertmanager whose webhook opens and
resolves a problem here (Debian packages `prometheus`, `prometheus-alertmanager`)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.monitor import MonitorSettings
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.conftest import free_port, require_tool

pytestmark = [pytest.mark.external, pytest.mark.slow]
ADMIN = "*:*.admin-secret"
LABELS = {"keptn_project": "website", "keptn_stage": "production", "keptn_service": "front-end"}


class FlakyApp:
    """Counters that go up on every scrape; `error_share` of the new requests fail."""

    def __init__(self) -> None:
        self.ok = 0
        self.errors = 0
        self.error_share = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        failed = round(20 * self.error_share)
        self.ok += 20 - failed
        self.errors += failed
        body = f'http_requests_total{{code="200"}} {self.ok}\nhttp_requests_total{{code="500"}} {self.errors}\n'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    return server, task


async def _wait(predicate: Any, seconds: float) -> bool:
    for _ in range(int(seconds * 4)):
        if await predicate():
            return True
        await asyncio.sleep(0.25)
    return False


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    prometheus = require_tool("prometheus")
    alertmanager = require_tool("prometheus-alertmanager", "alertmanager")
    app_port, prom_port, am_port, sh_port = free_port(), free_port(), free_port(), free_port()
    app = FlakyApp()
    app_server, app_task = await _serve(app, app_port)
    labels = "\n".join(f"      {k}: {v}" for k, v in LABELS.items())
    (tmp_path / "rules.yml").write_text(
        f"""groups:
- name: selfheal
  interval: 1s
  rules:
  - alert: HighErrorRatio
    expr: sum(rate(http_requests_total{{code="500"}}[5s])) / sum(rate(http_requests_total[5s])) > 0.2
    labels:
{labels}
    annotations:
      summary: Failure rate increase
"""
    )
    (tmp_path / "prometheus.yml").write_text(
        f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{tmp_path}/rules.yml"]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]}}]
scrape_configs:
- job_name: app
  static_configs: [{{targets: ["127.0.0.1:{app_port}"]}}]
"""
    )
    (tmp_path / "alertmanager.yml").write_text(
        f"""route: {{receiver: selfheal, group_by: [alertname], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}
receivers:
- name: selfheal
  webhook_configs:
  - url: http://127.0.0.1:{sh_port}/api/v1/alertmanager
    send_resolved: true
    http_config: {{authorization: {{credentials: "{ADMIN}"}}}}
"""
    )
    procs = [
        subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path}/prometheus.yml",
                f"--storage.tsdb.path={tmp_path}/tsdb",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                alertmanager,
                f"--config.file={tmp_path}/alertmanager.yml",
                f"--storage.path={tmp_path}/am",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/sh.db",
        port=sh_port,
        init_admin_api_tokens=[ADMIN],  # type: ignore[list-item]
        monitor=MonitorSettings(hold_seconds=2, reopen_seconds=0),
    )
    container: Container = await build(settings, bus=MemoryBus())
    await container.start()
    sh_server, sh_task = await _serve(create_app(container, manage_lifecycle=False), sh_port)
    try:
        yield {"app": app, "prom": f"http://127.0.0.1:{prom_port}", "container": container}
    finally:
        sh_server.should_exit = True
        app_server.should_exit = True
        await asyncio.gather(sh_task, app_task)
        await container.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


async def test_monitor_prometheus_source_and_alertmanager_intake(stack: dict[str, Any]) -> None:
    container: Container = stack["container"]
    svc = container.monitor.service
    svc.apply(
        [
            {
                "name": "front-end",
                "tags": LABELS,
                "source": {
                    "prometheus": {
                        "url": stack["prom"],
                        "interval": 1,
                        "requests": 'sum(http_requests_total{job="app"})',
                        "errors": 'sum(http_requests_total{job="app",code=~"5.."})',
                    }
                },
            }
        ]
    )
    container.monitor.sync_loops()

    async def has_rate() -> bool:
        now = container.runtime.clock.now()
        return await svc.sli({"service": "front-end"}, "throughput", now - 30, now) is not None

    assert await _wait(has_rate, 60), svc.status()
    assert svc.status()[0]["state"] == "ok"
    stack["app"].error_share = 0.5

    async def alert_problem() -> bool:
        problems, _ = await svc.list_problems(status="OPEN")
        return any(p.source == "alertmanager" for p in problems)

    assert await _wait(alert_problem, 90)
    now = container.runtime.clock.now()
    rate = await svc.sli({"service": "front-end"}, "failure_rate", now - 10, now)
    assert rate is not None and rate > 20
    stack["app"].error_share = 0.0

    async def alert_resolved() -> bool:
        problems, _ = await svc.list_problems()
        am = [p for p in problems if p.source == "alertmanager"]
        return bool(am) and all(p.status == "RESOLVED" for p in am)

    assert await _wait(alert_resolved, 120)
    problems, _ = await svc.list_problems()
    assert any(
        p.title == "Failure rate increase" and p.tags.get("keptn_stage") == "production"
        for p in problems
    )
