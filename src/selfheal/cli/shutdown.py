"""How `selfheal up` stops: one owner for SIGTERM/SIGINT from start to exit."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import uvicorn


class Shutdown:
    """SIGTERM (or SIGINT) at any point of `selfheal up` ends it with exit status 0.

    Supervisors (podman, Kubernetes, systemd) send SIGTERM whenever they like — often while a
    replica still waits for the migration lock or for the bus — and count anything but 0 as
    a failure. Before the event loop runs nothing is started yet, so the process exits at
    once; while starting, the start is cancelled (the transaction waiting on the lock rolls
    back) and what was opened is closed; while serving, uvicorn stops accepting, drains the
    open requests (`timeout_graceful_shutdown`) and the container stops. A second signal
    while draining closes the open connections at once.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Task[Any] | None = None
        self._server: uvicorn.Server | None = None
        self.requested = False

    def install(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, self._on_signal)

    def starting(self, task: asyncio.Task[Any]) -> None:
        """The task that builds and starts the container; a signal now cancels it."""
        self._loop = task.get_loop()
        self._starting = task
        if self.requested:
            task.cancel()

    def serving(self, server: uvicorn.Server) -> None:
        """From here on a signal asks uvicorn to shut down gracefully."""
        self._server = server
        if self.requested:
            server.should_exit = True

    def finished(self) -> None:
        self._loop = None

    def _on_signal(self, _signum: int, _frame: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise SystemExit(0)
        loop.call_soon_threadsafe(self._stop)

    def _stop(self) -> None:
        again, self.requested = self.requested, True
        if self._server is not None:
            if again:
                self._server.force_exit = True
            self._server.should_exit = True
        elif self._starting is not None:
            self._starting.cancel()


class GracefulServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `Shutdown` owns them for the whole process
    (uvicorn's would re-raise the signal after its shutdown and end the process with -15)."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()
