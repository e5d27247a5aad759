"""Real sockets on 127.0.0.1 for process-level monitor tests: an app whose `/metrics` the
monitor scrapes (a share of each scrape's 20 new requests fail), and a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FlakyApp:
    error_share: float = 0.0
    ok: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scrape(self) -> str:
        with self.lock:
            failed = round(20 * self.error_share)
            self.ok += 20 - failed
            self.errors += failed
            return (
                f'http_requests_total{{code="200"}} {self.ok}\n'
                f'http_requests_total{{code="500"}} {self.errors}\n'
            )


@dataclass
class Receiver:
    posts: list[dict[str, Any]] = field(default_factory=list)

    def states(self, pid: str) -> list[str]:
        """The distinct notifications for a problem, in arrival order."""
        out: list[str] = []
        for body in self.posts:
            data = body.get("data", {})
            if data.get("PID") == pid:
                out.append(str(data.get("State")))
        return out


@contextmanager
def serve(app: FlakyApp, receiver: Receiver | None = None) -> Iterator[str]:
    """Serve GET /metrics from `app` and POST /hook into `receiver`; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = app.scrape().encode() if self.path == "/metrics" else b"not found"
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if receiver is not None and self.path == "/hook":
                receiver.posts.append(json.loads(raw))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
