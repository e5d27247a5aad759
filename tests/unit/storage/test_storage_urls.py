"""Database URLs: driver selection and redaction."""

from __future__ import annotations

import pytest

from selfheal.storage import normalize_url, redact


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("postgres://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:///tmp/a.db", "sqlite+aiosqlite:///tmp/a.db"),
        ("sqlite+aiosqlite:///tmp/a.db", "sqlite+aiosqlite:///tmp/a.db"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
    ],
)
def test_normalize_url_picks_the_async_driver(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_redact_hides_the_password() -> None:
    out = redact("postgresql+psycopg://user:s3cret@db:5432/selfheal")
    assert "s3cret" not in out
    assert "user" in out and "db:5432/selfheal" in out


def test_redact_never_raises() -> None:
    assert redact("::not a url::") == "<unparsable database url>"
