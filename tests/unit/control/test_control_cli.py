"""The CLI builds Keptn-shaped requests (a recording transport stands in for the server)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from selfheal.cli import app
from selfheal.cli import control as cli_control
from tests.unit.control.conftest import SEED


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/resource"):
            return httpx.Response(201, json={"commitID": "3"})
        if request.url.path in ("/api/v1/event", "/api/v1/sequences"):
            return httpx.Response(200, json={"keptnContext": "ctx-1"})
        return httpx.Response(200, json={"summary": "Aborted", "events": []})

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("SELFHEAL_URL", "http://server:4242")
    monkeypatch.setenv("SELFHEAL_TOKEN", "*:*.admin-secret")
    monkeypatch.setattr(cli_control, "transport", httpx.MockTransport(answer))
    yield requests


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_control_cli_seed_commands(sent: list[httpx.Request]) -> None:
    run("create", "project", "website", f"--shipyard={SEED / 'shipyard.yaml'}")
    run("create", "service", "front-end", "--project=website")
    out = run(
        "add-resource",
        "--project=website",
        "--stage=production",
        "--service=front-end",
        f"--resource={SEED / 'remediations.yaml'}",
        "--resourceUri=remediation.yaml",
    )
    assert "revision 3" in out
    out = run("send", "event", "-f", str(SEED / "problemopen.json"))
    assert "keptnContext: ctx-1" in out
    run("abort", "sequence", "--keptn-context=ctx-1")
    run("approve", "--keptn-context=ctx-1")
    paths = [r.url.path for r in sent]
    assert paths == [
        "/api/controlPlane/v1/project",
        "/api/controlPlane/v1/project/website/service",
        "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
        "/api/v1/event",
        "/api/v1/sequences/ctx-1/abort",
        "/api/v1/sequences/ctx-1/approval",
    ]
    body = json.loads(sent[0].content)
    assert base64.b64decode(body["shipyard"]).decode() == (SEED / "shipyard.yaml").read_text()
    assert all(r.headers["authorization"] == "*:*.admin-secret" for r in sent)
    assert sent[0].url.host == "server"


def test_control_cli_auth_saves_endpoint(
    sent: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SELFHEAL_URL")
    monkeypatch.delenv("SELFHEAL_TOKEN")
    run("auth", "--endpoint", "http://saved:1234", "--api-token", "tok")
    run("get", "event", "--keptn-context", "abc")
    assert sent[-1].url.host == "saved" and sent[-1].headers["authorization"] == "tok"
