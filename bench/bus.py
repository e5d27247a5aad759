"""Event bus throughput and latency: memory bus, JetStream bus, and raw nats-py as the limit.

Run: `.venv/bin/python bench/bus.py [--events N] [--nats nats://127.0.0.1:4222]`.
Every scenario is bounded by an event count and a deadline. Prints a markdown table and
writes it to docs/bench/bus.md with the machine's details.

- throughput: N events published as fast as the client allows (the JetStream bus pipelines
  with `publish_many`, raw JetStream with `publish_async`), until the handler saw all of them.
- latency: one event in flight at a time, publish call -> handler entry (perf_counter).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from selfheal.bus import MemoryBus
from selfheal.bus.jetstream import JetStreamBus
from selfheal.core import CloudEvent

OUT = Path(__file__).resolve().parent.parent / "docs" / "bench" / "bus.md"
DEADLINE = 60.0
TYPE = "sh.keptn.event.action.triggered"
console = Console()


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sample_event(i: int) -> CloudEvent:
    return CloudEvent(
        type=TYPE,
        source="bench/bus",
        data={"project": "website", "stage": "production", "service": "front-end", "i": i},
        extensions={"shkeptncontext": "bench-context"},
    )


class Counter:
    """Counts handled events; `done` fires at `target`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.done = asyncio.Event()
        self.arrived = asyncio.Event()
        self.arrived_at = 0.0

    def hit(self) -> None:
        self.seen += 1
        self.arrived_at = time.perf_counter()
        self.arrived.set()
        if self.seen >= self.target:
            self.done.set()


async def wait(event: asyncio.Event, timeout: float = DEADLINE) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False


async def ping_pong(
    count: int, counter: Counter, send: Callable[[int], Awaitable[Any]], tick: Callable[[], None]
) -> list[float]:
    """One event in flight: time from the publish call to the handler."""
    latencies: list[float] = []
    end = time.monotonic() + DEADLINE
    for i in range(count):
        if time.monotonic() > end:
            break
        counter.arrived.clear()
        start = time.perf_counter()
        await send(i)
        if not await wait(counter.arrived, 5.0):
            break
        latencies.append((counter.arrived_at - start) * 1000)
        tick()
    return latencies


async def memory_bus(n: int, lat_n: int, tick: Callable[[], None]) -> Result:
    bus = MemoryBus()
    counter = Counter(n)

    async def handler(_: CloudEvent) -> None:
        counter.hit()

    await bus.subscribe("sh.keptn.>", handler)
    events = [sample_event(i) for i in range(n)]
    start = time.perf_counter()
    for e in events:
        await bus.publish(e)
    await wait(counter.done)
    seconds = time.perf_counter() - start
    tick()
    latency = Counter(lat_n)
    bus2 = MemoryBus()

    async def lat_handler(_: CloudEvent) -> None:
        latency.hit()

    await bus2.subscribe("sh.keptn.>", lat_handler)
    lats = await ping_pong(lat_n, latency, lambda i: bus2.publish(events[i % n]), tick)
    await bus.close()
    await bus2.close()
    return Result("selfheal MemoryBus", counter.seen, seconds, lats)


async def jetstream_bus(url: str, n: int, lat_n: int, tick: Callable[[], None]) -> list[Result]:
    tag = uuid.uuid4().hex[:8]
    stream = f"BENCH_{tag}"
    bus = await JetStreamBus.connect(
        url, stream=stream, subject_prefix=f"b{tag}.", consumer_prefix=f"b{tag}", prefetch=256
    )
    results = []
    try:
        counter = Counter(n)

        async def handler(_: CloudEvent) -> None:
            counter.hit()

        await bus.subscribe("sh.keptn.>", handler, group="bench")
        events = [sample_event(i) for i in range(n)]
        start = time.perf_counter()
        for k in range(0, n, 500):
            await bus.publish_many(events[k : k + 500])
        await wait(counter.done)
        seconds = time.perf_counter() - start
        tick()
        latency = Counter(lat_n)

        async def lat_handler(_: CloudEvent) -> None:
            latency.hit()

        await bus.subscribe("selfheal.>", lat_handler)
        lat_events = [
            CloudEvent(type="selfheal.bench.ping", source="bench", data={"i": i})
            for i in range(lat_n)
        ]
        lats = await ping_pong(lat_n, latency, lambda i: bus.publish(lat_events[i]), tick)
        results.append(Result("selfheal JetStreamBus (publish_many)", counter.seen, seconds, lats))

        seq = Counter(min(n, 3000))

        async def seq_handler(_: CloudEvent) -> None:
            seq.hit()

        await bus.subscribe("sh.keptn.>", seq_handler, group="bench-seq")
        start = time.perf_counter()
        for e in [sample_event(i) for i in range(seq.target)]:
            await bus.publish(e)
        await wait(seq.done)
        results.append(
            Result(
                "selfheal JetStreamBus (publish, one at a time)",
                seq.seen,
                time.perf_counter() - start,
                [],
            )
        )
        tick()
    finally:
        await bus.close()
        await _delete_stream(url, stream)
    return results


async def raw_core_nats(url: str, n: int, lat_n: int, tick: Callable[[], None]) -> Result:
    import nats

    nc = await nats.connect(url)
    subject = f"bench.{uuid.uuid4().hex[:8]}"
    body = sample_event(0).to_json()
    counter = Counter(n)

    async def cb(_: Any) -> None:
        counter.hit()

    await nc.subscribe(subject, cb=cb, pending_msgs_limit=n + 10)
    start = time.perf_counter()
    for _ in range(n):
        await nc.publish(subject, body)
    await nc.flush()
    await wait(counter.done)
    seconds = time.perf_counter() - start
    tick()
    latency = Counter(lat_n)
    lat_subject = subject + ".lat"

    async def lat_cb(_: Any) -> None:
        latency.hit()

    await nc.subscribe(lat_subject, cb=lat_cb)

    async def send(_: int) -> None:
        await nc.publish(lat_subject, body)
        await nc.flush()

    lats = await ping_pong(lat_n, latency, send, tick)
    await nc.close()
    return Result("raw nats-py core publish/subscribe", counter.seen, seconds, lats)


async def raw_jetstream(url: str, n: int, lat_n: int, tick: Callable[[], None]) -> Result:
    import nats
    from nats.js.api import ConsumerConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:8]
    stream = f"RAW_{tag}"
    await js.add_stream(name=stream, subjects=[f"raw{tag}.>"])
    body = sample_event(0).to_json()
    try:
        sub = await js.pull_subscribe(f"raw{tag}.bulk", durable="bulk", stream=stream)
        counter = Counter(n)

        async def consume() -> None:
            end = time.monotonic() + DEADLINE
            while counter.seen < n and time.monotonic() < end:
                try:
                    msgs = await sub.fetch(256, timeout=1)
                except TimeoutError:
                    continue
                for msg in msgs:
                    counter.hit()
                    await msg.ack()

        consumer = asyncio.create_task(consume())
        start = time.perf_counter()
        for k in range(0, n, 500):
            futures = [
                await js.publish_async(f"raw{tag}.bulk", body) for _ in range(min(500, n - k))
            ]
            await asyncio.gather(*futures)
        await wait(counter.done)
        seconds = time.perf_counter() - start
        await consumer
        tick()

        lat_sub = await js.pull_subscribe(
            f"raw{tag}.lat", durable="lat", stream=stream, config=ConsumerConfig()
        )
        latencies: list[float] = []
        for _ in range(lat_n):
            start_one = time.perf_counter()
            await js.publish(f"raw{tag}.lat", body)
            msgs = await lat_sub.fetch(1, timeout=5)
            latencies.append((time.perf_counter() - start_one) * 1000)
            for msg in msgs:
                await msg.ack()
            tick()
        return Result("raw nats-py JetStream publish + pull", counter.seen, seconds, latencies)
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def _delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def nats_version(url: str) -> str | None:
    import nats

    try:
        nc = await asyncio.wait_for(nats.connect(url, allow_reconnect=False), 3)
    except Exception:
        return None
    version = nc.connected_server_version
    await nc.close()
    return f"{version.major}.{version.minor}.{version.patch}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(results: list[Result]) -> str:
    rows = [
        "| path | events | events/s | p50 latency (ms) | p99 latency (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        p50 = f"{r.pct(0.5):.3f}" if r.latencies_ms else "–"
        p99 = f"{r.pct(0.99):.3f}" if r.latencies_ms else "–"
        rows.append(f"| {r.name} | {r.events} | {r.rate:,.0f} | {p50} | {p99} |")
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-events", type=int, default=1_000)
    parser.add_argument(
        "--nats", default=os.environ.get("SELFHEAL_TEST_NATS", "nats://127.0.0.1:4222")
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    n, lat_n = max(1, min(args.events, 200_000)), max(1, min(args.latency_events, 10_000))
    version = await nats_version(args.nats)
    results: list[Result] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("memory bus", total=1 + lat_n)

        def tick() -> None:
            progress.advance(task)  # the scenario running now

        results.append(await memory_bus(n, lat_n, tick))
        if version:
            task = progress.add_task("JetStream bus", total=2 + lat_n)
            results.extend(await jetstream_bus(args.nats, n, lat_n, tick))
            task = progress.add_task("raw core NATS", total=1 + lat_n)
            results.append(await raw_core_nats(args.nats, n, lat_n, tick))
            task = progress.add_task("raw JetStream", total=1 + lat_n)
            results.append(await raw_jetstream(args.nats, n, lat_n, tick))
    by_name = {r.name: r for r in results}
    ratios: list[str] = []
    ours = by_name.get("selfheal JetStreamBus (publish_many)")
    raw = by_name.get("raw nats-py JetStream publish + pull")
    if ours and raw and raw.rate:
        ratios.append(
            f"- JetStream bus throughput = **{ours.rate / raw.rate:.0%}** of raw nats-py "
            f"JetStream (goal ≥ 50%)"
        )
        ratios.append(
            f"- JetStream bus p50 latency = {ours.pct(0.5):.3f} ms vs raw "
            f"{raw.pct(0.5):.3f} ms (×{ours.pct(0.5) / raw.pct(0.5):.2f})"
        )
    memory = by_name["selfheal MemoryBus"]
    ratios.append(f"- memory bus p50 latency = {memory.pct(0.5):.3f} ms (goal < 0.2 ms)")
    if not version:
        ratios.append(f"- NATS not reachable at {args.nats}: only the memory bus was measured")
    machine = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()} {platform.release()}",
        f"- nats-server {version or 'not available'}",
        f"- events per throughput run: {n}; latency samples: {lat_n}",
    ]
    report = "\n".join(
        [
            "# Event bus benchmark",
            "",
            "Generated by `.venv/bin/python bench/bus.py`. Throughput: N events published as fast",
            "as the client allows until the handler has seen all of them (JetStream bus: pipelined",
            "`publish_many` in chunks of 500; raw JetStream: `publish_async` in chunks of 500 plus",
            "`fetch(256)`). Latency: one event in flight, from the publish call to the handler.",
            "The JetStream rows are bound by the server's file-backed stream on this machine;",
            "figures from a shared 2-core box vary by ±30% between runs, the ratio less so.",
            "",
            table(results),
            "",
            *ratios,
            "",
            "## Machine",
            *machine,
            "",
        ]
    )
    console.print(report)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(report)
        console.print(f"written to {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
