"""Detection latency and false positives of the monitor on synthetic traffic.

A real HTTP endpoint serves Prometheus counters that are a deterministic function of an
injected ManualClock (20 req/s, seeded RNG per second); the real scraper reads it over
127.0.0.1 and the real detectors run, one tick per simulated second, so an hour of traffic
takes seconds. Three detector sets watch the same stream side by side:

- selfheal: the default set (automatic baseline, multi-window binomial test, medium);
- seed: Dynatrace-style fixed threshold, 5 % over a 5-minute window, >= 1 request/min;
- sre: the multi-window burn-rate rule, 1 h and 5 min above 14.4x for a 99.5 % SLO.

Run: `.venv/bin/python bench/detect.py [--quick]`; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import socket
import time
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from selfheal.core import ManualClock
from selfheal.delivery import MemoryDeliveryStore, Outbox, RetryPolicy
from selfheal.monitor.leaders import LocalLeaderElection
from selfheal.monitor.notifications import Notifier, RecordingSender
from selfheal.monitor.problems import MemoryProblemStore
from selfheal.monitor.service import MonitorService
from selfheal.monitor.sources import HttpxFetcher

RATE = 20
SEED = 20240601
START = 1_700_000_000.0


class Traffic:
    """Cumulative counters up to the clock's current whole second."""

    def __init__(self, clock: ManualClock, background: float, fault: float, onset: float) -> None:
        self.clock = clock
        self.background = background
        self.fault = fault
        self.onset = onset
        self._req = [0]
        self._err = [0]

    def _p(self, second: int) -> float:
        if START + second >= self.onset:
            return self.background + self.fault * (1 - self.background)
        return self.background

    def counters(self) -> tuple[int, int]:
        upto = int(self.clock.now() - START)
        while len(self._req) <= upto:
            s = len(self._req) - 1
            rng = random.Random(SEED * 1_000_003 + s)
            p = self._p(s)
            errors = sum(1 for _ in range(RATE) if rng.random() < p)
            self._req.append(self._req[-1] + RATE)
            self._err.append(self._err[-1] + errors)
        return self._req[upto], self._err[upto]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        total, errors = self.counters()
        body = (
            "# TYPE http_requests_total counter\n"
            f'http_requests_total{{code="200"}} {total - errors}\n'
            f'http_requests_total{{code="500"}} {errors}\n'
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DETECTORS: dict[str, list[dict[str, Any]]] = {
    "selfheal": [],
    "seed": [
        {
            "kind": "failure_rate",
            "mode": "fixed",
            "threshold": 5,
            "windows": [300],
            "plain": True,
            "min_requests_per_minute": 1,
        }
    ],
    "sre": [
        {
            "kind": "burn_rate",
            "slo": 99.5,
            "burn_rate": 14.4,
            "long_window": 3600,
            "short_window": 300,
            "min_requests_per_minute": 1,
        }
    ],
}


async def run_stream(background: float, fault: float, warmup: int, duration: int) -> dict[str, Any]:
    """Returns per detector set: seconds from onset to OPEN (or None) and problems opened."""
    clock = ManualClock(START)
    onset = START + warmup if fault > 0 else float("inf")
    traffic = Traffic(clock, background, fault, onset)
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(traffic, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    events: list[Any] = []

    async def publish(event: Any) -> bool:
        events.append(event)
        return True

    store = MemoryProblemStore(publish=publish)

    fetcher = HttpxFetcher()
    notifier = Notifier(
        publish=publish,
        outbox=Outbox(
            MemoryDeliveryStore(), clock, policy=RetryPolicy(), registry=CollectorRegistry()
        ),
        sender=RecordingSender(),
        clock=clock,
        public_url="http://bench",
        webhooks=[],
    )
    svc = MonitorService(
        store=store,
        comments=store,
        notifier=notifier,
        fetcher=fetcher,
        leader=LocalLeaderElection(),
        clock=clock,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    svc.apply(
        [
            {"name": name, "source": {"scrape": {"url": url, "interval": 1}}, "detectors": dets}
            for name, dets in DETECTORS.items()
        ]
    )
    first: dict[str, float | None] = dict.fromkeys(DETECTORS)
    try:
        for _ in range(warmup + duration):
            await clock.advance(1)
            await svc.tick()
            for e in events:
                name = e.data["ImpactedEntity"]
                if e.data["State"] == "OPEN" and first[name] is None:
                    first[name] = clock.now() - onset if fault > 0 else clock.now() - START
            events.clear()
            if fault > 0 and all(v is not None for v in first.values()):
                break
    finally:
        await fetcher.aclose()
        server.should_exit = True
        await task
    opened = {}
    for name in DETECTORS:
        _, opened[name] = await svc.list_problems(service=name)
    return {
        "first": first,
        "opened": opened,
        "no_data": [s["name"] for s in svc.status() if s["state"] != "ok"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="15-minute baselines, 10-minute fault cap"
    )
    args = parser.parse_args()
    hour = 900 if args.quick else 3600
    cap = 600 if args.quick else 3000
    began = time.perf_counter()
    rows = []
    for fault in (1.0, 0.5, 0.2, 0.1):
        r = await run_stream(0.01, fault, warmup=hour, duration=cap)
        rows.append((f"{fault:.0%} faults on 1 % background: s to OPEN", r))
    for bg in (0.01, 0.03):
        r = await run_stream(bg, 0.0, warmup=0, duration=hour)
        rows.append((f"{bg:.0%} background for {hour // 60} min: problems opened", r))
    took = time.perf_counter() - began

    def cell(label: str, r: dict[str, Any], name: str) -> str:
        if "OPEN" in label:
            v = r["first"][name]
            return f"not within {cap // 60} min" if v is None else f"{v:.0f}"
        return str(r["opened"][name])

    print(
        f"Machine: {platform.platform()}, Python {platform.python_version()}, {platform.processor() or platform.machine()}"
    )
    print(f"Wall time for all streams: {took:.1f} s\n")
    print(
        "| stream (20 req/s) | selfheal default | seed Dynatrace fixed 5 %/5 min | SRE 1h/5m 14.4x (99.5 %) |"
    )
    print("|---|---|---|---|")
    for label, r in rows:
        print(
            f"| {label} | {cell(label, r, 'selfheal')} | {cell(label, r, 'seed')} | {cell(label, r, 'sre')} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
