"""`selfheal flags …` against a running `selfheal up`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfheal.cli import app
from tests.support.server import selfheal_up

pytestmark = pytest.mark.slow


def test_flags_cli_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    with selfheal_up(tmp_path) as srv:
        env = {
            "SELFHEAL_URL": srv.url,
            "SELFHEAL_TOKEN": srv.admin_token,
            "XDG_CONFIG_HOME": str(tmp_path),
        }

        def run(*args: str) -> str:
            result = runner.invoke(app, ["flags", *args], env=env)
            assert result.exit_code == 0, result.output
            return result.output

        assert "created EnableStaticContent" in run(
            "create", "EnableStaticContent", "--type", "kill-switch"
        )
        run("on", "EnableStaticContent")
        listed = run("list")
        assert (
            "EnableStaticContent" in listed
            and "production=on" in listed
            and "development=off" in listed
        )
        run("off", "EnableStaticContent", "--env", "production")
        assert "production=off" in run("list")
        secret = run("token", "create", "web", "--type", "client", "--project", "default").strip()
        assert secret.startswith("default:production.")
        assert "web" in run("token", "list")
        assert secret not in run("token", "list")
        run("archive", "EnableStaticContent")
        assert "EnableStaticContent" not in run("list")
        bad = runner.invoke(app, ["flags", "create", "bad name"], env=env)
        assert bad.exit_code == 1 and "400" in bad.output
