"""Semantic versions for the SEMVER_* constraint operators.

Strict SemVer 2.0.0: ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, no leading ``v``. A value that
does not parse makes the constraint false. Precedence follows the spec: a prerelease sorts
before its release; prerelease identifiers compare numerically when numeric, lexically
otherwise, numeric before alphanumeric, and a shorter list of equal prefix sorts first. Build
metadata is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache, total_ordering

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version; ordering is SemVer precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    key: tuple[int, int, int, int, tuple[tuple[int, int, str], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # A release (no prerelease) outranks any prerelease of the same core version.
        ids = tuple(
            (0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.prerelease
        )
        key = (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)
        object.__setattr__(self, "key", key)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key


@lru_cache(maxsize=4096)
def parse_version(text: str | None) -> Version | None:
    """The version `text` denotes, or None when it is not strict SemVer (memoised: context
    values repeat across the flags of one request and across requests)."""
    if not text:
        return None
    match = _SEMVER.fullmatch(text.strip())
    if match is None:
        return None
    major, minor, patch, pre, _build = match.groups()
    prerelease: tuple[int | str, ...] = ()
    if pre:
        prerelease = tuple(int(part) if part.isdigit() else part for part in pre.split("."))
    return Version(int(major), int(minor), int(patch), prerelease)
