"""scripts/check_docs.py (run by `make check`): console pastes in markdown are refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PASTED = """selfheal heals a web service by itself and writes
every step                                  seconds  note
 monitor opened the problem               1.32  P-1 Failure rate increase
 ✓ problem opened  ✓ action triggered
the loop closed and every check passed |
| `fault_at` | fault onset |
"""

CLEAN = """# Title
Prose that wraps
over two lines.

```
 step                                  seconds  note
 ✓ problem opened
```

| key | meaning |
|---|---|
| `ok` | the loop closed |
"""


def test_console_paste_in_prose_is_found() -> None:
    reasons = [reason for _, reason in _checker().findings(PASTED)]
    assert any("columns" in reason for reason in reasons)
    assert any("check mark" in reason for reason in reasons)
    assert any("table row without a header" in reason for reason in reasons)


def test_fenced_output_and_real_tables_pass() -> None:
    assert list(_checker().findings(CLEAN)) == []


def test_readme_and_docs_pass_the_check() -> None:
    checker = _checker()
    files = checker.markdown_files([str(ROOT / "README.md"), str(ROOT / "docs")])
    problems = [
        (str(path), line, reason)
        for path in files
        for line, reason in checker.findings(path.read_text("utf-8"))
    ]
    assert problems == []
