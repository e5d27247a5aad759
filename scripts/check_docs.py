"""Docs check run by `make check`: catches console output pasted into prose.

A terminal paste outside a code fence renders as one run-on paragraph (the README once read
"and writes every step  seconds note monitor opened the problem 1.32 ..."). Outside fenced
blocks this refuses lines laid out in columns (a run of 6+ spaces between words), lines that
start with a console check mark, and table rows whose table has no header and separator row.

Usage: python scripts/check_docs.py README.md docs   (exit 1 and one line per finding)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_COLUMNS = re.compile(r"\S {6,}\S")
_CONSOLE_MARK = re.compile(r"^\s*[✓✗✔✘]\s")
_TABLE_ROW = re.compile(r"^\s{0,3}\|")
_TABLE_SEPARATOR = re.compile(r"^\s{0,3}\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def findings(text: str) -> Iterator[tuple[int, str]]:
    """(line number, reason) for each line of markdown that looks pasted from a console."""
    in_fence = False
    table_ok = False
    previous = ""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            previous = ""
            continue
        if in_fence:
            continue
        stripped = line.strip()
        if _TABLE_ROW.match(line):
            if not _TABLE_ROW.match(previous):
                following = lines[number] if number < len(lines) else ""
                table_ok = bool(_TABLE_SEPARATOR.match(following))
                if not table_ok:
                    yield number, "table row without a header and separator row (pasted text?)"
            previous = line
            continue
        previous = line
        if not stripped or line.startswith("    "):
            continue  # blank, or an indented code block
        if _CONSOLE_MARK.match(line):
            yield number, "console check mark outside a code fence"
        elif _COLUMNS.search(stripped):
            yield number, "text laid out in columns outside a code fence (console output?)"
    if in_fence:
        yield len(lines), "code fence never closed"


def markdown_files(paths: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        found.extend(sorted(path.rglob("*.md")) if path.is_dir() else [path])
    return found


def main(argv: list[str]) -> int:
    failures = 0
    for path in markdown_files(argv or ["README.md", "docs"]):
        for number, reason in findings(path.read_text(encoding="utf-8")):
            print(f"{path}:{number}: {reason}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
