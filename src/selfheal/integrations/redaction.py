"""Keeping secrets out of logs, errors, delivery records and the UI.

Two layers: structural (credentials in URLs and sensitive headers are masked whatever their
value) and by value (every secret the secret store has handed out is masked wherever it shows
up, e.g. a token echoed back in an error body).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-slack-signature",
    }
)
_SENSITIVE_PARAM = re.compile(r"(token|secret|key|password|passwd|sig|signature|auth)", re.I)
# Slack incoming-webhook paths are credentials themselves: /services/T…/B…/<secret>
_SLACK_HOOK = re.compile(r"(/services/[^/]+/[^/]+/)[^/?#]+")


def redact_url(url: str) -> str:
    """The URL without userinfo, with sensitive query values and webhook secrets masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"{MASK}@{netloc}"
    query = urlencode(
        [
            (k, MASK if _SENSITIVE_PARAM.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    path = _SLACK_HOOK.sub(rf"\g<1>{MASK}", parts.path)
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def is_sensitive_header(name: str) -> bool:
    lower = name.lower()
    return (
        lower in SENSITIVE_HEADERS
        or "token" in lower
        or "secret" in lower
        or "signature" in lower
        or lower.endswith("-key")
    )


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if is_sensitive_header(k) else v) for k, v in headers.items()}


class Redactor:
    """Masks known secret values in any text; the secret store registers what it resolves."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        # very short values would mask innocent text and hide nothing worth hiding
        if len(value) >= 4:
            self._values.add(value)

    def text(self, value: str) -> str:
        for secret in sorted(self._values, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def url(self, url: str) -> str:
        return self.text(redact_url(url))
