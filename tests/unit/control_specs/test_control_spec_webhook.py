from __future__ import annotations

import pytest

from selfheal.control.specs import SpecError, load_webhook

BETA = """\
apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
metadata:
  name: webhook-configuration
spec:
  webhooks:
    - type: "sh.keptn.event.action.triggered"
      subscriptionID: "sub-1"
      sendFinished: true
      sendStarted: false
      envFrom:
        - name: "token"
          secretRef:
            name: "jira"
            key: "token"
      requests:
        - url: "https://example.org/hook/{{.data.project}}"
          method: "POST"
          headers:
            - key: "Authorization"
              value: "Bearer {{.env.token}}"
          payload: '{"text": "{{.data.problem.ProblemTitle}}"}'
          options: "--insecure"
"""


def test_v1beta1() -> None:
    config = load_webhook(BETA)
    (hook,) = config.for_event("sh.keptn.event.action.triggered")
    assert (hook.subscription_id, hook.send_started, hook.send_finished) == ("sub-1", False, True)
    assert hook.env_from[0].secret == "jira"
    (request,) = hook.requests
    assert request.method == "POST"
    assert request.headers[0].key == "Authorization"
    assert request.insecure
    assert config.for_event("sh.keptn.event.evaluation.triggered") == ()
    assert config.for_event("sh.keptn.event.action.triggered", "other") == ()


def test_v1alpha1_curl_strings() -> None:
    text = """\
apiVersion: webhookconfig.keptn.sh/v1alpha1
kind: WebhookConfig
spec:
  webhooks:
    - type: sh.keptn.event.webhook.triggered
      requests:
        - "curl -X PUT -H 'Content-Type: application/json' --data '{\\"a\\": 1}' https://example.org/x"
        - "curl https://example.org/ping"
"""
    (hook,) = load_webhook(text).webhooks
    put, ping = hook.requests
    assert (put.method, put.payload, put.headers[0].value) == (
        "PUT",
        '{"a": 1}',
        "application/json",
    )
    assert (ping.method, ping.url) == ("GET", "https://example.org/ping")


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        ('method: "POST"', 'method: "FETCH"', 18, "spec.webhooks[0].requests[0].method", "one of"),
        (
            '"sh.keptn.event.action.triggered"',
            '"action"',
            7,
            "spec.webhooks[0].type",
            "sh.keptn.event",
        ),
        ('"--insecure"', '"--proxy x"', 23, "spec.webhooks[0].requests[0].options", "unsupported"),
        (
            "https://example.org",
            "ftp://example.org",
            17,
            "spec.webhooks[0].requests[0].url",
            "http",
        ),
        (
            'key: "token"',
            'kee: "token"',
            15,
            "spec.webhooks[0].envFrom[0].secretRef.kee",
            "unknown",
        ),
        ("v1beta1", "v2", 1, "apiVersion", "unsupported"),
    ],
)
def test_broken_webhooks(old: str, new: str, line: int, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_webhook(BETA.replace(old, new, 1))
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.message


def test_curl_with_unknown_options_is_rejected_clearly() -> None:
    text = BETA.replace("v1beta1", "v1alpha1").split("      requests:")[0]
    text += "      requests:\n        - curl --proxy p https://example.org\n"
    with pytest.raises(SpecError, match="unsupported curl option '--proxy'"):
        load_webhook(text)
    with pytest.raises(SpecError, match="curl strings need v1alpha1"):
        load_webhook(
            BETA.split("      requests:", maxsplit=1)[0]
            + "      requests:\n        - curl https://x.org\n"
        )
