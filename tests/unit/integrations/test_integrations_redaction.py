from __future__ import annotations

import logging

import pytest

from selfheal.integrations.errors import MissingSecret
from selfheal.integrations.plugins import plugin_logger
from selfheal.integrations.redaction import Redactor, redact_headers, redact_url
from selfheal.integrations.secrets import MemorySecrets, SourcedSecrets


def test_url_credentials_and_params_masked() -> None:
    url = "https://bot:pw@jira.example:8443/rest?api_token=abc&page=2"
    assert redact_url(url) == "https://***@jira.example:8443/rest?api_token=***&page=2"
    hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert redact_url(hook) == "https://hooks.slack.com/services/T000/B000/***"


def test_sensitive_headers_masked() -> None:
    out = redact_headers({"Authorization": "Api-Token x", "X-Api-Key": "k", "Accept": "json"})
    assert out == {"Authorization": "***", "X-Api-Key": "***", "Accept": "json"}


def test_secret_values_masked_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    secrets = MemorySecrets({"t": "hunter2-token"}, redactor=redactor)
    value = secrets.get("t").get_secret_value()
    log = plugin_logger("redaction-test", redactor)
    with caplog.at_level(logging.INFO):
        log.info("sending with %s", value)
    assert "hunter2-token" not in caplog.text
    assert "***" in caplog.text


def test_sourced_secrets_order(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "s"
    path.write_text("from-file\n")
    redactor = Redactor()
    secrets = SourcedSecrets(
        {},
        {"a": {"env": "A_VAR"}, "b": {"file": str(path)}, "c": {"value": "literal"}},
        redactor=redactor,
        environ={"A_VAR": "from-env", "SELFHEAL_SECRET_D_KEY": "from-prefix"},
    )
    assert secrets.get("a").get_secret_value() == "from-env"
    assert secrets.get("b").get_secret_value() == "from-file"
    assert secrets.get("c").get_secret_value() == "literal"
    assert secrets.get("d-key").get_secret_value() == "from-prefix"
    with pytest.raises(MissingSecret) as err:
        secrets.get("nope")
    assert "SELFHEAL_SECRET_NOPE" in str(err.value)
    assert redactor.text("from-env and from-file") == "*** and ***"
