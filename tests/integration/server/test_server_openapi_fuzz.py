"""A bounded schemathesis run over selfheal's own OpenAPI document, against `selfheal up` with
an admin token (issue 12, item 13): every operation, a fixed seed, no server error, no schema
error (every path parameter declared), no traceback in the server's log."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.support.server import selfheal_up

pytestmark = [pytest.mark.slow]

EXAMPLES = 5
"""Per operation and phase: about 2,500 requests, 1–2 minutes on one core."""


@pytest.mark.timeout(420)
def test_server_openapi_fuzz_finds_no_server_or_schema_errors(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        unavailable("schemathesis is not installed (pip install -e '.[dev]')")
    with selfheal_up(tmp_path) as srv:
        proc = subprocess.run(
            [
                str(st),
                "run",
                f"{srv.url}/api/openapi.json",
                "-H",
                f"Authorization: {srv.admin_token}",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "12",
                "--workers",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,  # schemathesis keeps its example cache in the working directory
            timeout=400,
            check=False,
        )
        log = srv.log.read_text()
    report = proc.stdout[-6000:]
    assert proc.returncode == 0, report
    assert "Schema Error" not in proc.stdout, report
    assert "Server error" not in proc.stdout, report
    assert "Traceback" not in log, log[-4000:]
