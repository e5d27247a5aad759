from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from selfheal.cli import app
from tests.support.paths import SEED

runner = CliRunner()


def _copy(tmp_path: Path, source: Path, name: str) -> Path:
    target = tmp_path / name
    target.write_text(source.read_text())
    return target


def test_remediation_test_shows_actions_and_flag_changes(tmp_path: Path) -> None:
    remediation = _copy(tmp_path, SEED / "formats" / "remediation.v0.1.4.yaml", "remediation.yaml")
    shipyard = _copy(tmp_path, SEED / "formats" / "shipyard.v0.2.yaml", "shipyard.yaml")
    result = runner.invoke(
        app,
        ["remediation", "test", str(remediation), "--problem-title", "Failure rate increase",
         "--shipyard", str(shipyard), "--stage", "production"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "get-action → action → evaluation (after 600s)" in result.output
    assert "Toggle feature flag" in result.output
    assert "EnableStaticContent → on" in result.output


def test_legacy_files_and_default(tmp_path: Path) -> None:
    legacy = _copy(tmp_path, SEED / "remediations.yaml", "remediations.yaml")
    result = runner.invoke(
        app,
        ["remediation", "test", str(legacy), "--problem-title", "Failure rate increase on X",
         "--shipyard", str(SEED / "shipyard.yaml")],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "EnableStaticContent → on" in result.output
    none = runner.invoke(app, ["remediation", "test", str(legacy), "--problem-title", "Disk full"])
    assert none.exit_code == 0
    assert "No action matches" in none.output


def test_invalid_file_exits_1_with_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "remediation.yaml"
    broken.write_text(
        "apiVersion: spec.keptn.sh/0.1.4\nkind: Remediation\nspec:\n  remediations:\n"
        "    - problemType: x\n      actionsOnOpen:\n        - name: a\n"
    )
    result = runner.invoke(app, ["remediation", "test", str(broken), "--problem-title", "x"])
    assert result.exit_code == 1
    assert (
        f"{broken}:7: field 'spec.remediations[0].actionsOnOpen[0].action': required"
        in result.output
    )


def test_missing_stage_exits_1(tmp_path: Path) -> None:
    remediation = _copy(tmp_path, SEED / "remediations.yaml", "remediation.yaml")
    result = runner.invoke(
        app,
        ["remediation", "test", str(remediation), "--problem-title", "x",
         "--shipyard", str(SEED / "shipyard.yaml"), "--stage", "staging"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no remediation sequence" in result.output


def test_validate_many(tmp_path: Path) -> None:
    good = [
        _copy(tmp_path, SEED / "formats" / "slo.yaml", "slo.yaml"),
        _copy(tmp_path, SEED / "shipyard.yaml", "shipyard.yaml"),
        _copy(tmp_path, SEED / "blog-post.txt", "notes.txt"),
    ]
    result = runner.invoke(app, ["remediation", "validate", *map(str, good)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == 2
    assert "skipped" in result.output
    bad = tmp_path / "sub"
    bad.mkdir()
    (bad / "sli.yaml").write_text("spec_version: '1.0'\nindicators:\n  a: [1]\n")
    result = runner.invoke(app, ["remediation", "validate", str(good[0]), str(bad / "sli.yaml")])
    assert result.exit_code == 1
    assert "sli.yaml:3: field 'indicators.a': must be a string" in result.output
