"""scripts/install-tools.sh and `make clean`: a newcomer's machine and data are left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-tools.sh"


def _run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs the script with a PATH holding only a recording apt-get: every tool is missing."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    record = tmp_path / "apt-get.calls"
    apt = stubs / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    apt.chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(SCRIPT)],
        env={"PATH": str(stubs), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_never_stops_processes_by_name() -> None:
    text = SCRIPT.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "pkill" not in code and "killall" not in code
    assert "policy-rc.d" in code  # service starts are denied during the install
    assert "disable" in code  # and what it installed is not enabled at boot


def test_says_what_it_would_install_and_does_not_without_consent(tmp_path: Path) -> None:
    result = _run(tmp_path, {"CI": "false"})
    assert result.returncode == 0
    assert "will apt-get install: prometheus " in result.stdout
    assert "nginx-light chromium wrk" in result.stdout
    assert "SELFHEAL_INSTALL_TOOLS=yes" in result.stderr
    assert not (tmp_path / "apt-get.calls").exists()


def test_under_ci_it_announces_then_fails_loudly_when_it_cannot_install(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("as root the script would really install; the non-root path is what is tested")
    result = _run(tmp_path, {"CI": "true"})
    assert "will apt-get install:" in result.stdout
    assert result.returncode == 1
    assert "not root" in result.stderr


def test_make_clean_keeps_the_data_directory() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    clean = subprocess.run(
        [make, "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    assert ".selfheal" not in clean.stdout
    data = subprocess.run(
        [make, "-n", "clean-data"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    assert "rm -rf .selfheal" in data.stdout
