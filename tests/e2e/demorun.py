"""`selfheal demo --json --keep-running` as a child process, read line by line with deadlines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

from selfheal.demo.processes import selfheal_command


class DemoRun:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            selfheal_command(
                "demo", "--json", "--keep-running", "--data-dir", str(data_dir), *extra
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
            text=True,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        for stream, sink in (
            (self.process.stdout, self.stdout),
            (self.process.stderr, self.stderr),
        ):
            assert stream is not None
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], sink: queue.Queue[str]) -> None:
        for line in stream:
            sink.put(line.rstrip("\n"))

    def stderr_line(self, contains: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stderr.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.stderr.empty():
                    break
                continue
            self.err_lines.append(line)
            if contains in line:
                return line
        raise AssertionError(f"no {contains!r} on stderr; saw:\n" + "\n".join(self.err_lines[-40:]))

    def report(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stdout.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.stdout.empty():
                    break
                continue
            if line.startswith("{"):
                body: dict[str, Any] = json.loads(line)
                return body
        while not self.stderr.empty():
            self.err_lines.append(self.stderr.get())
        raise AssertionError("no JSON report; stderr:\n" + "\n".join(self.err_lines[-60:]))

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
            raise
