"""An open-loop load generator: requests leave at a steady rate whatever the answers do.

Closed-loop generators slow down when the target slows down and hide the problem; this one
schedules request i at `start + i / rate`. It is bounded three ways: a request count
(`rate * duration`), a wall-clock deadline, and a cap on requests in flight (beyond it a
request is recorded as unanswered instead of piling up).

Each request belongs to one of `users` virtual users, who keeps a stable `sessionId` cookie,
so the website can pass it to the SDK as the Unleash context's `sessionId`: a gradual
rollout with stickiness `sessionId` then keeps each user on one side.

A sample's `sent_at` is read as the request is issued (not when it was scheduled: on a busy
machine a task can start late), so it can be compared with the platform's timestamps.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from selfheal.demo.traffic import Sample
from selfheal.demo.website import SERVED_AT, SESSION_COOKIE

if TYPE_CHECKING:
    from rich.console import Console

SEED_RATE = 0.2
"""The seed's loadGenErrors.sh: `curl http://localhost?statusCode=500`, then `sleep 5`."""


def seed_url(url: str) -> str:
    """The seed's request: the page with `?statusCode=500`."""
    return f"{url}{'&' if '?' in url else '?'}statusCode=500"


class LoadGenerator:
    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        rate: float = 20.0,
        duration: float = 60.0,
        max_in_flight: int = 256,
        users: int = 50,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> None:
        if rate <= 0 or rate > 5000:
            raise ValueError("rate must be in (0, 5000] requests per second")
        if duration <= 0 or duration > 24 * 3600:
            raise ValueError("duration must be in (0, 86400] seconds")
        if not 1 <= users <= 100_000:
            raise ValueError("users must be in [1, 100000]")
        self.url = url
        self.rate = rate
        self.duration = duration
        self.max_in_flight = max_in_flight
        self.users = users
        self.samples: list[Sample] = []
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        """When the last request left (epoch s), once `run` has ended."""
        self.ended_by: str | None = None
        """Why sending ended: `stop` (asked to), `count` or `deadline` (its bounds)."""
        self._client = client
        self._on_sample = on_sample
        self._stop = asyncio.Event()
        self._sessions = [f"{secrets.token_hex(4)}-u{k}" for k in range(users)]

    @property
    def total(self) -> int:
        return max(1, int(self.rate * self.duration))

    def stop(self) -> None:
        """End early; requests already sent are still waited for."""
        self._stop.set()

    def _record(self, sample: Sample) -> None:
        self.samples.append(sample)
        if self._on_sample is not None:
            self._on_sample(sample)

    def session(self, i: int) -> str:
        """The `sessionId` of the virtual user that sends request `i`."""
        return self._sessions[i % self.users]

    async def _one(self, i: int) -> None:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.session(i)}"}
        sent_at = time.time()
        start = time.perf_counter()
        served_at: float | None = None
        try:
            response = await self._client.get(self.url, headers=headers)
            status = response.status_code
            served_by = response.headers.get("x-served-by", "-")
            served_at = _epoch(response.headers.get(SERVED_AT))
        except httpx.HTTPError:
            status, served_by = 0, "-"
        latency = time.perf_counter() - start
        self._record(Sample(sent_at, latency, status, served_by, served_at))

    async def run(self) -> list[Sample]:
        interval = 1.0 / self.rate
        start = time.monotonic()
        self.started_at = time.time()
        deadline = start + self.duration + 1.0
        in_flight: set[asyncio.Task[None]] = set()
        self.ended_by = "count"
        for i in range(self.total):
            due = start + i * interval
            delay = due - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
            if self._stop.is_set() or time.monotonic() > deadline:
                self.ended_by = "stop" if self._stop.is_set() else "deadline"
                break
            if len(in_flight) >= self.max_in_flight:
                self._record(Sample(time.time(), 0.0, 0, "-"))
                continue
            task = asyncio.create_task(self._one(i))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        self.stopped_at = time.time()
        if in_flight:
            timeout = self._client.timeout.read or 10.0
            _done, pending = await asyncio.wait(in_flight, timeout=timeout + 1.0)
            for task in pending:
                task.cancel()
        return self.samples


def _epoch(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


async def run_loadgen(
    url: str,
    *,
    rate: float | None,
    duration: float,
    seed: bool = False,
    json_out: bool = False,
    console: Console | None = None,
) -> int:
    """`selfheal loadgen`: run with a progress bar, then a per-second table and totals."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from selfheal.demo.traffic import bucketize, totals

    console = console or Console(stderr=json_out)
    target = seed_url(url) if seed else url
    rate = rate if rate is not None else (SEED_RATE if seed else 20.0)
    stats = {"ok": 0, "errors": 0, "cdn": 0}

    def count(sample: Sample) -> None:
        stats["ok" if sample.ok else "errors"] += 1
        stats["cdn"] += sample.served_by == "cdn"

    async with httpx.AsyncClient(timeout=2.0) as client:
        gen = LoadGenerator(target, client, rate=rate, duration=duration, on_sample=count)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task(f"{rate:g} req/s → {target}", total=gen.total, detail="")
            run = asyncio.create_task(gen.run())
            while not run.done():
                done = stats["ok"] + stats["errors"]
                detail = f"ok {stats['ok']}  errors {stats['errors']}  cdn {stats['cdn']}"
                progress.update(bar, completed=done, detail=detail)
                await asyncio.wait({run}, timeout=0.25)
            samples = run.result()
    summary = totals(samples)
    buckets = bucketize(samples, 1.0 if rate >= 1 else 5.0)
    if json_out:
        origin = buckets[0].start if buckets else 0.0
        payload = {**summary, "series": [b.as_dict(origin) for b in buckets]}
        sys.stdout.write(json.dumps(payload) + "\n")
        return 0
    table = Table(title="Load over time", header_style="bold")
    for column in ("t (s)", "requests", "errors", "app", "cdn"):
        table.add_column(column, justify="right")
    origin = buckets[0].start if buckets else 0.0
    for b in buckets[-120:]:
        table.add_row(
            f"{b.start - origin:.0f}",
            str(b.count),
            str(b.errors),
            str(b.served_by.get("app", 0)),
            str(b.served_by.get("cdn", 0)),
        )
    console.print(table)
    console.print(
        f"{summary['requests']} requests; statuses {summary['statuses']}; "
        f"served by {summary['served_by']}; latency ms {summary['latency_ms']}"
    )
    return 0
