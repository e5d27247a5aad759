"""Settings errors as a user meets them: unknown variables, a missing file, bad values, unknown
file keys — each named, with no value echoed, and `selfheal up` exits 2 before it starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfheal.cli import app
from selfheal.settings import SettingsError, load_settings, unknown_variables


def test_unknown_variables_skips_settings_tools_and_secrets() -> None:
    environ = {
        "SELFHEAL_DATABASE_URL": "x",
        "SELFHEAL_CONTROL__LEASE_SECONDS": "3",
        "SELFHEAL_STORAGE__RETENTION__EVENTS_DAYS": "9",
        "selfheal_port": "1",
        "SELFHEAL_URL": "http://x",
        "SELFHEAL_SECRET_JIRA_TOKEN": "t",
        "SELFHEAL_DATABASE_ULR": "typo",
        "SELFHEAL_CONTROL__LEASE_SECOND": "typo",
        "SELFHEAL_NOPE__X": "typo",
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == [
        "SELFHEAL_CONTROL__LEASE_SECOND",
        "SELFHEAL_DATABASE_ULR",
        "SELFHEAL_NOPE__X",
    ]


def test_an_unknown_variable_is_an_error_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_DATABASE_ULR", "sqlite:///secret-path.db")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "SELFHEAL_DATABASE_ULR: no such setting (did you mean SELFHEAL_DATABASE_URL?)" in message
    assert "secret-path" not in message


def test_a_missing_settings_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SELFHEAL_CONFIG", raising=False)
    with pytest.raises(
        SettingsError,
        match=r"the settings file .*nope\.yaml \(SELFHEAL_CONFIG or --config\) is not a file",
    ):
        load_settings(tmp_path / "nope.yaml")
    assert "SELFHEAL_CONFIG" not in os.environ  # --config is not left behind for later loads


def test_bad_values_and_unknown_file_keys_are_named_without_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "selfheal.yaml"
    config.write_text("flags:\n  bogus: 2\n")
    monkeypatch.setenv("SELFHEAL_PORT", "hunter2")
    with pytest.raises(SettingsError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert (
        "SELFHEAL_PORT (or 'port' in the settings file): Input should be a valid integer" in message
    )
    assert (
        "SELFHEAL_FLAGS__BOGUS (or 'flags.bogus' in the settings file): no such setting" in message
    )
    assert "hunter2" not in message


def test_the_cli_exits_2_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_LOG_LEVLE", "DEBUG")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "SELFHEAL_LOG_LEVLE: no such setting (did you mean SELFHEAL_LOG_LEVEL?)" in result.output


def test_keys_of_mapping_settings_are_the_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """`SELFHEAL_INTEGRATIONS__SECRETS__JIRA_TOKEN` sets the key `jira_token` of a mapping
    setting: not an unknown variable, and it reaches the settings."""
    monkeypatch.setenv("SELFHEAL_INTEGRATIONS__SECRETS__JIRA_TOKEN", "t0ken")
    monkeypatch.setenv("SELFHEAL_INTEGRATIONS__ENVIRONMENTS__PRODUCTION", "prod")
    assert unknown_variables(dict.fromkeys(("SELFHEAL_INTEGRATIONS__SECRETS__ANY",))) == []
    settings = load_settings()
    assert settings.integrations.secrets["jira_token"].get_secret_value() == "t0ken"
    assert settings.integrations.environments == {"production": "prod"}
    assert unknown_variables({"SELFHEAL_INTEGRATIONS__SECRET__X": ""}) == [
        "SELFHEAL_INTEGRATIONS__SECRET__X"
    ]
