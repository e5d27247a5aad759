from __future__ import annotations

import pytest

from selfheal.integrations.errors import ConfigError
from selfheal.integrations.jira import JiraConfig
from selfheal.integrations.manifests import load_manifest

GOOD = """\
secrets:
  jira-token: {env: JIRA_TOKEN}
integrations:
  - name: jira
    type: jira
    events: [problem.open, action.finished]
    config:
      url: https://example.atlassian.net
      user: bot@example.com
      token: {secret: jira-token}
      project_key: OPS
  - name: hook
    type: webhook
    enabled: false
    config: {url: "https://hooks.example.com/x"}
"""


def test_loads_integrations_and_secret_sources() -> None:
    manifest = load_manifest(GOOD)
    assert [s.name for s in manifest.integrations] == ["jira", "hook"]
    assert manifest.integrations[0].events == ("problem.open", "action.finished")
    assert manifest.integrations[1].enabled is False
    assert manifest.secrets == {"jira-token": {"env": "JIRA_TOKEN"}}
    config = manifest.config(JiraConfig, manifest.integrations[0])
    assert config.token.secret == "jira-token"
    assert config.api == "v3"


def test_plugin_config_errors_carry_line() -> None:
    text = GOOD.replace("      project_key: OPS\n", "      project_key: OPS\n      colour: red\n")
    manifest = load_manifest(text)
    with pytest.raises(ConfigError) as err:
        manifest.config(JiraConfig, manifest.integrations[0])
    assert err.value.field == "integrations[0].config.colour"
    assert err.value.line == 12


def test_plain_secret_values_are_refused() -> None:
    manifest = load_manifest(GOOD.replace("token: {secret: jira-token}", "token: abc123"))
    with pytest.raises(ConfigError) as err:
        manifest.config(JiraConfig, manifest.integrations[0])
    assert err.value.field == "integrations[0].config.token"
    assert err.value.line == 10


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        (
            "integrations:\n  - name: a\n    type: jira\n  - name: a\n    type: slack\n",
            "integrations[1].name",
            4,
        ),
        ("integrations:\n  - name: a\n", "integrations[0].type", 2),
        ("integrations:\n  - name: a\n    type: x\n    colour: red\n", "integrations[0].colour", 4),
        ("secrets:\n  s: {vault: x}\n", "secrets.s", 2),
        ("nonsense: 1\n", "nonsense", 1),
    ],
)
def test_schema_errors(text: str, field: str, line: int) -> None:
    with pytest.raises(ConfigError) as err:
        load_manifest(text)
    assert err.value.field == field
    assert err.value.line == line


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError) as err:
        load_manifest("integrations:\n  - name: [a\n")
    assert err.value.line is not None
