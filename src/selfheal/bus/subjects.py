"""NATS-style subject matching, shared by every adapter so patterns mean the same everywhere."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def _tokens(value: str) -> tuple[str, ...]:
    return tuple(value.split("."))


def matches(pattern: str, subject: str) -> bool:
    """True if `subject` matches `pattern` (`*` = exactly one token, `>` = one or more)."""
    pat = _tokens(pattern)
    sub = _tokens(subject)
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub):
            return False
        if token != "*" and token != sub[i]:
            return False
    return len(pat) == len(sub)


def validate_pattern(pattern: str) -> None:
    tokens = pattern.split(".")
    if not pattern or any(t == "" for t in tokens):
        raise ValueError(f"invalid subject pattern {pattern!r}")
    if ">" in tokens[:-1]:
        raise ValueError(f"'>' may only end a pattern: {pattern!r}")
