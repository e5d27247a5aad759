"""REGEX constraints in the Unleash (Rust `regex`) dialect, compiled with Python's `re`."""

from __future__ import annotations

import pytest

from selfheal.flags.engine.patterns import Unsupported, compile_pattern, translate


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^(?i)abc$", "ABC", True),
        ("a(?i)b|c", "C", True),
        ("a(?i)b|c", "aB", True),
        ("x(?i:b)c", "xBC", False),
        ("^[[:digit:][:upper:]]+$", "A1B2", True),
        ("^[[:digit:][:upper:]]+$", "a1", False),
        ("^[^[:space:]]+$", "no-space", True),
        ("^abc$", "abc\n", False),
        ("(?m)^abc$", "x\nabc\ny", True),
        ("^a\\z", "a", True),
        ("^\\x{41}$", "A", True),
        ("^(?<word>\\w+)$", "hello", True),
        ("^[]a]+$", "]a]", True),
        ("^(?s)a.b$", "a\nb", True),
        ("(?i)^a(?-i)b$", "Ab", True),
        ("(?i)^a(?-i)b$", "AB", False),
    ],
)
def test_dialect(pattern: str, text: str, matches: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled is not None, translate(pattern)
    assert (compiled.search(text) is not None) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        "(?=a)b",
        "(?!a)b",
        "(?<=a)b",
        "(?<!a)b",
        "(a)\\1",
        "(?P<x>a)(?P=x)",
        "\\k<x>",
        "(?U)a+",
        "[[:nonsense:]]",
        "[a-z",
        "(a",
        "a)",
        "\\",
        "\\p{L}",
        "[a&&b]",
    ],
)
def test_rejected_patterns_compile_to_none(pattern: str) -> None:
    assert compile_pattern(pattern) is None


def test_translate_raises_unsupported_for_look_around() -> None:
    with pytest.raises(Unsupported):
        translate("(?=x)")


def test_ignore_case_flag() -> None:
    compiled = compile_pattern("^abc$", ignore_case=True)
    assert compiled is not None
    assert compiled.search("aBc")
