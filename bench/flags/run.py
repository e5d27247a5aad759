"""Flags API throughput: selfheal vs unleash-server 8 vs a bare Starlette response, one run.

    .venv/bin/python bench/flags/run.py [--duration 8] [--sizes 5,350] [--conns 50,500]

Starts unleash-server 8.2 (npm, Node 22) and `selfheal up` on the same local PostgreSQL
server, loads the same flags into both through the Unleash admin API, then drives each with
wrk: GET /api/client/features (200 and 304 on If-None-Match) and POST /api/frontend at 50 and
500 connections. The bare row serves selfheal's exact bytes from a minimal Starlette app as
the physical limit of uvicorn here. Also measures flip → SDK propagation (the official Python
UnleashClient, polling at 1 s and streaming). Writes docs/bench/flags.md. Bounded: every wrk
run lasts --duration seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support.node import UnleashServer, start_unleash  # noqa: E402

console = Console()
PG = "postgresql://postgres@127.0.0.1:5432/postgres"
ENV = "development"
BARE = "bare Starlette (same bytes)"
UNLEASH = "unleash-server 8.2"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_db(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_db(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Target:
    name: str
    url: str
    admin: str
    client: str
    frontend: str
    stop: object


def wait_ready(url: str, path: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready")


def start_selfheal(port: int, db: str, tmp: Path) -> Target:
    env = {
        **os.environ,
        "SELFHEAL_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
        "SELFHEAL_PORT": str(port),
        "SELFHEAL_LOG_LEVEL": "WARNING",
        "SELFHEAL_INIT_ADMIN_API_TOKENS": "*:*.bench-admin",
        "SELFHEAL_INIT_BACKEND_API_TOKENS": f"default:{ENV}.bench-client",
        "SELFHEAL_INIT_FRONTEND_API_TOKENS": f"default:{ENV}.bench-frontend",
        "SELFHEAL_ADMIN_PASSWORD": "bench-password",
    }
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/selfheal"), "up"],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "selfheal.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, "/readyz")

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=20)

    return Target(
        "selfheal",
        url,
        "*:*.bench-admin",
        f"default:{ENV}.bench-client",
        f"default:{ENV}.bench-frontend",
        stop,
    )


def from_unleash(server: UnleashServer) -> Target:
    return Target(
        UNLEASH,
        server.url,
        server.admin_token,
        server.client_token,
        server.frontend_token,
        server.stop,
    )


def seed_flags(t: Target, count: int) -> None:
    """The same flags in both: a mix of strategies and constraints, half of them on."""
    h = {"Authorization": t.admin, "Content-Type": "application/json"}
    base = f"{t.url}/api/admin/projects/default/features"
    with httpx.Client(timeout=30, headers=h) as c:
        for i in range(count):
            # Archived names stay taken (in both servers), so each size gets its own names.
            name = f"bench.{count}.flag.{i:03d}"
            r = c.post(base, json={"name": name, "type": "release", "description": f"flag {i}"})
            if r.status_code not in (200, 201):
                raise RuntimeError(f"{t.name}: create {name}: {r.status_code} {r.text[:200]}")
            strategy = {
                "name": "flexibleRollout",
                "parameters": {
                    "rollout": str(10 + i % 90),
                    "stickiness": "default",
                    "groupId": name,
                },
                "constraints": [
                    {"contextName": "appName", "operator": "IN", "values": ["web", "api"]},
                    {"contextName": "userId", "operator": "STR_STARTS_WITH", "values": ["u"]},
                ],
            }
            r = c.post(f"{base}/{name}/environments/{ENV}/strategies", json=strategy)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"{t.name}: strategy {name}: {r.status_code} {r.text[:200]}")
            if i % 2 == 0:
                r = c.post(f"{base}/{name}/environments/{ENV}/on")
                if r.status_code not in (200, 201, 202):
                    raise RuntimeError(f"{t.name}: on {name}: {r.status_code} {r.text[:200]}")


def check_same_flags(t: Target, size: int) -> str:
    """Both servers must serve the flags just seeded and honour If-None-Match; the ETag."""
    url = f"{t.url}/api/client/features"
    r = httpx.get(url, headers={"Authorization": t.client}, timeout=10)
    r.raise_for_status()
    names = [f["name"] for f in r.json()["features"] if f["name"].startswith(f"bench.{size}.")]
    if len(names) != size:
        raise RuntimeError(f"{t.name}: serves {len(names)} of the {size} flags")
    etag = r.headers.get("etag")
    if not etag:
        raise RuntimeError(f"{t.name}: no ETag")
    again = httpx.get(url, headers={"Authorization": t.client, "If-None-Match": etag}, timeout=10)
    if again.status_code != 304:
        raise RuntimeError(f"{t.name}: If-None-Match gave {again.status_code}, not 304")
    return etag


def remove_flags(t: Target) -> None:
    h = {"Authorization": t.admin, "Content-Type": "application/json"}
    with httpx.Client(timeout=60, headers=h) as c:
        names = [
            f["name"]
            for f in c.get(f"{t.url}/api/admin/projects/default/features").json()["features"]
        ]
        for n in names:
            c.delete(f"{t.url}/api/admin/projects/default/features/{n}")


LUA = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "{token}"
wrk.headers["Content-Type"] = "application/json"
{extra}
{body}
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def wrk(
    url: str,
    token: str,
    conns: int,
    duration: int,
    *,
    method: str = "GET",
    etag: str | None = None,
    body: str | None = None,
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(
            LUA.format(
                method=method,
                token=token,
                extra=f"wrk.headers[\"If-None-Match\"] = '{etag}'" if etag else "",
                body=f"wrk.body = '{body}'" if body else "",
            )
        )
        script = f.name
    threads = 2 if conns >= 2 else 1
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: the thread stats' "+/- Stdev" column (e.g. "75.50%") must not match.
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(rps, p50, p99, int(m.group(1)) if m else 0)


BARE_APP = textwrap.dedent("""
    import sys
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    body = open(sys.argv[1], "rb").read()
    etag = sys.argv[2]
    async def features(request):
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})
    app = Starlette(routes=[Route("/api/client/features", features)])
""")


def start_bare(port: int, body: bytes, etag: str, tmp: Path) -> Target:
    (tmp / "bare_app.py").write_text(BARE_APP)
    (tmp / "body.json").write_bytes(body)
    # Served the way `selfheal up` serves (its run_loop: uvloop when installed, httptools, no
    # access log), so the gap is the framework and our code, not the loop.
    code = (
        "import sys, uvicorn; sys.argv=['x', sys.argv[1], sys.argv[2]];"
        "sys.path.insert(0, '.'); import bare_app;"
        "from selfheal.cli.server import run_loop;"
        f"cfg = uvicorn.Config(bare_app.app, port={port}, log_config=None, access_log=False);"
        "run_loop(uvicorn.Server(cfg).serve())"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp / "body.json"), etag],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            httpx.get(url + "/api/client/features", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=10)

    return Target(BARE, url, "x", "x", "x", stop)


def propagation(t: Target, mode: str, flips: int = 6) -> list[float]:
    """Seconds from the admin flip's response to UnleashClient.is_enabled seeing it."""
    from UnleashClient import UnleashClient

    name = "bench.propagation"
    h = {"Authorization": t.admin, "Content-Type": "application/json"}
    base = f"{t.url}/api/admin/projects/default/features"
    httpx.post(base, json={"name": name, "type": "kill-switch"}, headers=h, timeout=10)
    httpx.post(
        f"{base}/{name}/environments/{ENV}/strategies",
        json={"name": "default"},
        headers=h,
        timeout=10,
    )
    httpx.post(f"{base}/{name}/environments/{ENV}/off", headers=h, timeout=10)
    kwargs: dict[str, object] = {}
    if mode == "streaming":
        kwargs["experimental_mode"] = {"type": "streaming"}
    client = UnleashClient(
        url=f"{t.url}/api",
        app_name="bench",
        environment=ENV,
        refresh_interval=1,
        metrics_interval=60,
        disable_registration=True,
        disable_metrics=True,
        custom_headers={"Authorization": t.client},
        cache_directory=tempfile.mkdtemp(),
        **kwargs,
    )
    client.initialize_client()
    samples: list[float] = []
    try:
        time.sleep(1.5)
        state = False
        for _ in range(flips):
            state = not state
            httpx.post(
                f"{base}/{name}/environments/{ENV}/{'on' if state else 'off'}",
                headers=h,
                timeout=10,
            )
            start = time.perf_counter()
            end = start + 5
            while time.perf_counter() < end and client.is_enabled(name) != state:
                time.sleep(0.0005)
            samples.append(time.perf_counter() - start)
            time.sleep(0.3)
    finally:
        client.destroy()
    return samples


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split(
        "\n"
    )[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {wrk_v.strip()}"
    )


def median_result(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.non2xx for r in results),
    )


FRONTEND_BODY = '{"context":{"userId":"u123","appName":"web"}}'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the report shows medians")
    ap.add_argument("--sizes", default="5,350")
    ap.add_argument("--conns", default="50,500")
    ap.add_argument("--out", default=str(ROOT / "docs/bench/flags.md"))
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: make tools")
    sizes = [int(s) for s in args.sizes.split(",")]
    conns = [int(c) for c in args.conns.split(",")]
    repeat = max(1, min(args.repeat, 20))
    tag = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="selfheal-bench-"))
    dbs = [f"bench_unleash_{tag}", f"bench_selfheal_{tag}"]
    for db in dbs:
        create_db(db)
    samples: dict[tuple[str, int, str, int], list[WrkResult]] = {}
    prop: dict[str, list[float]] = {}
    targets: list[Target] = []
    try:
        console.print("starting unleash-server 8.2 and selfheal on PostgreSQL …")
        unleash = from_unleash(start_unleash(free_port(), dbs[0], environment=ENV))
        selfheal = start_selfheal(free_port(), dbs[1], tmp)
        targets = [selfheal, unleash]
        runs = len(sizes) * len(conns) * (3 * 2 + 2) * repeat
        with Progress(console=console) as progress:
            task = progress.add_task("wrk runs", total=runs)
            for size in sizes:
                for t in (selfheal, unleash):
                    remove_flags(t)
                    seed_flags(t, size)
                time.sleep(1.5)  # let unleash's feature cache settle
                etags = {t.name: check_same_flags(t, size) for t in (selfheal, unleash)}
                r = httpx.get(
                    f"{selfheal.url}/api/client/features",
                    headers={"Authorization": selfheal.client},
                )
                bare = start_bare(free_port(), r.content, etags[selfheal.name], tmp)
                etags[bare.name] = check_same_flags(bare, size)
                try:
                    # Rounds interleave the servers, so a noisy neighbour hits all of them.
                    for _ in range(repeat):
                        for c in conns:
                            for t in (bare, selfheal, unleash):
                                url = f"{t.url}/api/client/features"
                                for label, etag in (("200", None), ("304", etags[t.name])):
                                    key = (t.name, size, f"GET /api/client/features {label}", c)
                                    result = wrk(url, t.client, c, args.duration, etag=etag)
                                    samples.setdefault(key, []).append(result)
                                    progress.advance(task)
                            for t in (selfheal, unleash):
                                key = (t.name, size, "POST /api/frontend", c)
                                result = wrk(
                                    f"{t.url}/api/frontend",
                                    t.frontend,
                                    c,
                                    args.duration,
                                    method="POST",
                                    body=FRONTEND_BODY,
                                )
                                samples.setdefault(key, []).append(result)
                                progress.advance(task)
                finally:
                    bare.stop()  # type: ignore[operator]
        for t in (selfheal, unleash):
            prop[f"{t.name} polling (1 s)"] = propagation(t, "polling")
        prop["selfheal streaming"] = propagation(selfheal, "streaming")
    finally:
        for t in targets:
            try:
                t.stop()  # type: ignore[operator]
            except Exception as exc:
                console.print(f"stopping {t.name}: {exc}")
        for db in dbs:
            drop_db(db)
    rows = [(n, s, e, c, median_result(rs)) for (n, s, e, c), rs in samples.items()]
    report(rows, prop, Path(args.out), args.duration, repeat)


def report(
    rows: list[tuple[str, int, str, int, WrkResult]],
    prop: dict[str, list[float]],
    out: Path,
    duration: int,
    repeat: int = 1,
) -> None:
    table = Table(title="flags API throughput")
    for col in (
        "endpoint",
        "flags",
        "conns",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs unleash",
        "vs bare",
    ):
        table.add_column(col)
    lines = [
        "## Flags API: selfheal vs unleash-server 8.2",
        "",
        f"Machine: {machine()}. Both servers on the same local PostgreSQL 15, one worker process "
        f"each; wrk from Debian, {duration} s per run, {repeat} interleaved round(s) "
        "(figures are medians over the rounds), on the same 2 cores as the servers "
        "(so absolute numbers are modest; compare the ratios). Unleash's rate limits lifted. "
        "The bare row is a minimal Starlette app serving selfheal's exact body and ETag, run the "
        "way `selfheal up` runs uvicorn (uvloop, httptools, no access log). "
        "Reproduce: `.venv/bin/python bench/flags/run.py [--repeat 3]`.",
        "",
        "| endpoint | flags | conns | server | req/s | p50 ms | p99 ms | non-2xx/3xx "
        "| req/s vs unleash | req/s vs bare |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    index = {(n, s, e, c): r for n, s, e, c, r in rows}
    for name, size, endpoint, c, r in rows:
        ref = index.get((UNLEASH, size, endpoint, c))
        ratio = f"{r.rps / ref.rps:.2f}x" if ref and ref.rps else ""
        bare = index.get((BARE, size, endpoint, c))
        of_bare = f"{r.rps / bare.rps:.2f}x" if bare and bare.rps else ""
        lines.append(
            f"| {endpoint} | {size} | {c} | {name} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.non2xx} | {ratio} | {of_bare} |"
        )
        table.add_row(
            endpoint,
            str(size),
            str(c),
            name,
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.non2xx),
            ratio,
            of_bare,
        )
    console.print(table)
    lines += [
        "",
        "Flip → SDK propagation (official Python UnleashClient 6.x; seconds from the admin "
        "API's response to `is_enabled` changing):",
        "",
        "| server / mode | median s | max s | flips |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, samples in prop.items():
        lines.append(
            f"| {name} | {statistics.median(samples):.3f} | {max(samples):.3f} | {len(samples)} |"
        )
        console.print(
            f"{name}: median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    (out.with_suffix(".json")).write_text(
        json.dumps(
            [
                {
                    "server": n,
                    "flags": s,
                    "endpoint": e,
                    "conns": c,
                    "rps": r.rps,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                    "non2xx": r.non2xx,
                }
                for n, s, e, c, r in rows
            ]
            + [{"propagation": k, "samples_s": v} for k, v in prop.items()],
            indent=1,
        )
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
