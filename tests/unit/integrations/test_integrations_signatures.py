from __future__ import annotations

import pytest
from slack_sdk.signature import SignatureVerifier

from selfheal.integrations.errors import BadSignature
from selfheal.integrations.signatures import (
    hmac_header,
    slack_signature,
    verify_shared_secret,
    verify_slack,
)

# Slack's documented example ("Verifying requests from Slack")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
EXPECTED = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_documented_test_vector() -> None:
    assert slack_signature(SECRET, TIMESTAMP, BODY) == EXPECTED


def test_agrees_with_slack_sdk() -> None:
    verifier = SignatureVerifier(SECRET, clock=type("C", (), {"now": lambda self: 1531420618.0})())
    assert verifier.generate_signature(timestamp=TIMESTAMP, body=BODY) == EXPECTED
    assert verifier.is_valid(BODY, TIMESTAMP, EXPECTED)


def test_verify_accepts_fresh_signed_request() -> None:
    verify_slack(SECRET, timestamp=TIMESTAMP, signature=EXPECTED, body=BODY, now=1531420618 + 299)


@pytest.mark.parametrize(
    ("timestamp", "signature", "now"),
    [
        (None, EXPECTED, 1531420618),  # unsigned
        (TIMESTAMP, None, 1531420618),
        (TIMESTAMP, EXPECTED, 1531420618 + 301),  # stale: older than 5 minutes
        (TIMESTAMP, "v0=" + "0" * 64, 1531420618),  # wrong signature
        ("yesterday", EXPECTED, 1531420618),
    ],
)
def test_verify_rejects(timestamp: str | None, signature: str | None, now: float) -> None:
    with pytest.raises(BadSignature):
        verify_slack(SECRET, timestamp=timestamp, signature=signature, body=BODY, now=now)


def test_tampered_body_rejected() -> None:
    with pytest.raises(BadSignature):
        verify_slack(
            SECRET, timestamp=TIMESTAMP, signature=EXPECTED, body=BODY + b"x", now=1531420618
        )


def test_hmac_header_is_sha256_over_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    assert hmac_header("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_shared_secret_as_query_value_or_hub_signature() -> None:
    body = b'{"webhookEvent": "comment_created"}'
    verify_shared_secret("s3cret", secret="s3cret", signature=None, body=body)
    verify_shared_secret("s3cret", secret=None, signature=hmac_header("s3cret", body), body=body)
    sha1 = hmac_header("s3cret", body, algorithm="sha1")
    verify_shared_secret("s3cret", secret=None, signature=sha1, body=body)
    for secret, signature in (
        (None, None),
        ("wrong", None),
        (None, hmac_header("wrong", body)),
        (None, "md5=abc"),
        ("s3cret", hmac_header("wrong", body)),  # a bad signature is not rescued by the query
    ):
        with pytest.raises(BadSignature):
            verify_shared_secret("s3cret", secret=secret, signature=signature, body=body)
