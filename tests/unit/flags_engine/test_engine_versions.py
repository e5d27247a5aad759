"""SemVer parsing and precedence for the SEMVER_* operators."""

from __future__ import annotations

import itertools

import pytest

from selfheal.flags.engine.versions import parse_version


@pytest.mark.parametrize(
    "text", ["v1.0.0", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "", None, "1.0.0+", "one"]
)
def test_invalid_versions(text: str | None) -> None:
    assert parse_version(text) is None


def test_precedence_follows_semver() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    versions = [parse_version(text) for text in ordered]
    assert all(v is not None for v in versions)
    for earlier, later in itertools.pairwise(versions):
        assert earlier is not None
        assert later is not None
        assert earlier < later


def test_build_metadata_is_ignored() -> None:
    assert parse_version("1.2.3+build.7") == parse_version("1.2.3")
