"""REGEX constraint patterns: Unleash's dialect compiled with Python's `re`.

Unleash evaluates REGEX constraints with the Rust `regex` crate (through Yggdrasil), so the
client specification expects its dialect: POSIX classes such as ``[[:alpha:]]``, inline flags
anywhere (``^(?i)abc$`` applies from that point to the end of the group), ``$`` only at the very
end unless multi-line, ``\\z`` and ``\\x{...}``; and it rejects what a linear-time engine cannot
do (look-around, backreferences). This module rewrites such a pattern into an equivalent
Python one, or returns None when the pattern is invalid or unsupported — the constraint is then
false rather than the evaluation crashing.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAGS = re.compile(r"\(\?([imsxU-]*)([:)])")
_GROUP_NAME = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")
_HEX_BRACED = re.compile(r"\\x\{([0-9A-Fa-f]{1,8})\}")


class Unsupported(ValueError):
    """The pattern uses a construct the Unleash dialect rejects (or we cannot express)."""


@dataclass
class _Frame:
    """An open group: the flag groups we opened inside it, and whether `$` is multi-line."""

    multiline: bool
    opened: list[str] = field(default_factory=list)


def _class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the bracket expression starting at `start`; return it and the index after."""
    out = ["["]
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif char == "[":
            match = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i:])
            if match is None or match.group(2) not in _POSIX_CLASSES or match.group(1):
                raise Unsupported("nested or negated character class")
            out.append(_POSIX_CLASSES[match.group(2)])
            i += match.end()
        elif char == "]":
            out.append("\\]")
            i += 1
        else:
            out.append(char)
            i += 1
        first = False
    raise Unsupported("unterminated character class")


def _flag_group(flags: str, multiline: bool) -> tuple[str, bool]:
    """A Python scoped-flag group opener for `flags` and the resulting multi-line state."""
    if "U" in flags:
        raise Unsupported("swap-greed flag")
    on, _, off = flags.partition("-")
    if "m" in on:
        multiline = True
    if "m" in off:
        multiline = False
    return f"(?{flags}:", multiline


def translate(pattern: str) -> str:
    """The Python spelling of an Unleash (Rust `regex`) pattern; raises Unsupported."""
    pattern = _HEX_BRACED.sub(lambda m: f"\\U{int(m.group(1), 16):08x}", pattern)
    out: list[str] = []
    stack = [_Frame(multiline=False)]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        frame = stack[-1]
        if char == "\\":
            nxt = pattern[i + 1 : i + 2]
            if not nxt:
                raise Unsupported("trailing backslash")
            if nxt.isdigit() or nxt in "kgpP":
                raise Unsupported(f"escape \\{nxt}")
            out.append("\\Z" if nxt == "z" else pattern[i : i + 2])
            i += 2
        elif char == "[":
            text, i = _class(pattern, i)
            out.append(text)
        elif char == "(":
            flags = _FLAGS.match(pattern, i)
            name = _GROUP_NAME.match(pattern, i)
            if flags is not None:
                opener, multiline = _flag_group(flags.group(1), frame.multiline)
                if flags.group(2) == ")":
                    # Bare flags: scope them to the rest of the enclosing group.
                    out.append(opener)
                    frame.opened.append(opener)
                    frame.multiline = multiline
                else:
                    out.append(opener)
                    stack.append(_Frame(multiline=multiline))
                i = flags.end()
            elif name is not None:
                out.append(f"(?P<{name.group(1)}>")
                stack.append(_Frame(multiline=frame.multiline))
                i = name.end()
            elif pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
                raise Unsupported("look-around or other extension group")
            else:
                opener = "(?:" if pattern.startswith("(?:", i) else "("
                out.append(opener)
                stack.append(_Frame(multiline=frame.multiline))
                i += len(opener)
        elif char == ")":
            if len(stack) == 1:
                raise Unsupported("unbalanced parenthesis")
            out.append(")" * len(frame.opened) + ")")
            stack.pop()
            i += 1
        elif char == "|":
            out.append(")" * len(frame.opened) + "|" + "".join(frame.opened))
            i += 1
        elif char == "$":
            out.append("$" if frame.multiline else "\\Z")
            i += 1
        else:
            out.append(char)
            i += 1
    if len(stack) != 1:
        raise Unsupported("unbalanced parenthesis")
    out.append(")" * len(stack[0].opened))
    return "".join(out)


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str] | None:
    """The compiled pattern, or None when it is invalid or outside the Unleash dialect."""
    try:
        python = translate(pattern)
        with warnings.catch_warnings():
            # Python warns about set syntax it will change; Rust reads it differently anyway.
            warnings.simplefilter("error")
            return re.compile(python, re.IGNORECASE if ignore_case else 0)
    except (Unsupported, re.error, FutureWarning, DeprecationWarning, OverflowError):
        return None
