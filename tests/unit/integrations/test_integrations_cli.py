from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from selfheal.cli import app


def test_check_reports_line_of_plain_secret(tmp_path: Path) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "integrations:\n  - name: j\n    type: jira\n    config: {url: x, token: abc, project_key: O}\n"
    )
    result = CliRunner().invoke(app, ["integrations", "check", str(path)])
    assert result.exit_code == 1
    assert "line 4" in result.output and "integrations[0].config.token" in result.output


def test_check_accepts_good_file(tmp_path: Path) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "integrations:\n  - name: s\n    type: slack\n    config: {webhook_url: {secret: h}}\n"
    )
    result = CliRunner().invoke(app, ["integrations", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "ok  s: slack" in result.output
