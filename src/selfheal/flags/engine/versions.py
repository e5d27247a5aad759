"""Semantic versions for the SEMVER_* constraint operators.

Strict SemVer 2.0.0: ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, no leading ``v``. A value that
does not parse makes the constraint false. Precedence follows the spec: a prerelease sorts
before its release; prerelease identifiers compare numerically when numeric, lexically
otherwise, numeric before alphanumeric, and a shorter list of equal prefix sorts first. Build
metadata is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

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

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release (no prerelease) outranks any prerelease of the same core version.
        ids = tuple(
            (0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()


def parse_version(text: str | None) -> Version | None:
    """The version `text` denotes, or None when it is not strict SemVer."""
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
