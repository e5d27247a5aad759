"""A server that is not there is one clear error line and exit 1, for every client command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port

SELFHEAL = str(Path(sys.executable).parent / "selfheal")


@pytest.mark.parametrize(
    "args",
    [["flags", "list"], ["get", "event"], ["problems", "list"], ["monitor", "status"]],
)
def test_unreachable_server_is_an_error_line(args: list[str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [SELFHEAL, *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)},
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"cannot reach {url}/" in proc.stderr
