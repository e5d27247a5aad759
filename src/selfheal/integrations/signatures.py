"""Request signatures: Slack's v0 scheme (verify inbound) and HMAC headers (sign outbound).

Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with HMAC-SHA256 under the app's
signing secret and sends `X-Slack-Signature: v0=<hex>`; requests older than five minutes are
refused so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac

from selfheal.integrations.errors import BadSignature

SLACK_MAX_AGE = 300.0


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    max_age: float = SLACK_MAX_AGE,
) -> None:
    """Raise BadSignature unless the request is signed with `secret` and fresh."""
    if not timestamp or not signature:
        raise BadSignature("missing Slack signature headers")
    try:
        sent = int(timestamp)
    except ValueError:
        raise BadSignature("malformed Slack request timestamp") from None
    if abs(now - sent) > max_age:
        raise BadSignature("stale Slack request (timestamp older than 5 minutes)")
    expected = slack_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature):
        raise BadSignature("Slack signature does not match")


def verify_shared_secret(
    expected: str, *, secret: str | None, signature: str | None, body: bytes
) -> None:
    """Accept a shared secret given as-is (`?secret=`) or an `X-Hub-Signature`-style
    `sha256=<hex>` HMAC of the body (Jira's newer webhooks); raise BadSignature otherwise."""
    if signature:
        algorithm, _, _digest = signature.partition("=")
        if algorithm in ("sha256", "sha1") and hmac.compare_digest(
            hmac_header(expected, body, algorithm=algorithm), signature
        ):
            return
        raise BadSignature("webhook signature does not match")
    if secret is None:
        raise BadSignature("webhook is neither signed nor carries the shared secret")
    if not hmac.compare_digest(expected.encode(), secret.encode()):
        raise BadSignature("webhook secret does not match")


def hmac_header(secret: str, body: bytes, *, algorithm: str = "sha256") -> str:
    """`sha256=<hex>` over the exact body bytes (GitHub's convention, widely understood)."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"
