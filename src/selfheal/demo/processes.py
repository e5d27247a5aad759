"""The demo's child processes: started in their own session, logged to files, always stopped.

`ProcessGroup.stop()` runs on normal exit, on Ctrl-C (the runner's `finally`) and, as a last
resort, from `atexit`. On Linux each child also asks the kernel for SIGTERM should the
runner die without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_BOOT = (
    "from selfheal.demo.processes import die_with_parent; die_with_parent(); "
    "from selfheal.cli import main; main()"
)


def selfheal_command(*args: str) -> list[str]:
    """Run the `selfheal` CLI of this very interpreter (works without the script on PATH)."""
    return [sys.executable, "-c", _BOOT, *args]


def die_with_parent() -> None:
    """In a child: ask Linux for SIGTERM when the parent dies (no preexec_fn needed)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildFailed(RuntimeError):
    """A child exited before it was ready."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            with self.log_path.open(encoding="utf-8", errors="replace") as f:
                return "".join(deque(f, maxlen=lines))
        except OSError:
            return ""

    def check(self) -> None:
        if not self.alive:
            raise ChildFailed(
                f"{self.name} exited with {self.process.returncode}; last lines of "
                f"{self.log_path}:\n{self.tail()}"
            )


class ProcessGroup:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        atexit.register(self.stop)

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
        child = Child(name, process, log_path, log)
        self.children.append(child)
        return child

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM everyone, wait up to `timeout`, then SIGKILL what is left. Idempotent."""
        for child in self.children:
            if child.alive:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                child.process.wait(timeout=timeout)
            child._log.close()
        self.children = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        atexit.unregister(self.stop)
