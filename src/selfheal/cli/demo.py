"""`selfheal demo …`, `selfheal loadgen` and `selfheal bench mttr`: the seed scenario."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

T = TypeVar("T")

demo_app = typer.Typer(
    help="The seed scenario: a website healed by a kill switch, end to end.",
    invoke_without_command=True,
)
bench_app = typer.Typer(help="Benchmarks that need the whole platform.", no_args_is_help=True)


def run_cancellable(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro`; SIGTERM cancels it like Ctrl-C does, so `finally` blocks always run."""

    async def main() -> T:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError):
            pass
        return await task

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        typer.echo("interrupted; everything the demo started has been stopped", err=True)
        raise typer.Exit(130) from None


@demo_app.callback()
def demo(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="print the report's JSON as the last line"),
    keep_running: bool = typer.Option(
        False, "--keep-running", help="leave everything up afterwards"
    ),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="where the database, logs and report go"
    ),
    report_dir: Path = typer.Option(None, "--report-dir", help="report.json and timeline.png"),
    rate: float = typer.Option(20.0, "--rate", help="requests per second"),
    fault_rate: float = typer.Option(0.5, "--fault-rate", help="share of failing backend calls"),
    fault_latency_ms: float = typer.Option(0.0, "--fault-latency-ms"),
    baseline: float = typer.Option(4.0, "--baseline", help="seconds of healthy load first"),
    timeout: float = typer.Option(
        45.0, "--timeout", help="seconds after the fault to wait for the mitigation"
    ),
    fault_seconds: float = typer.Option(
        20.0, "--fault-seconds", min=0.0, help="the fault clears this long after it began"
    ),
    keep_fault: bool = typer.Option(
        False, "--keep-fault", help="the fault never clears (overrides --fault-seconds)"
    ),
    restore_timeout: float = typer.Option(
        90.0,
        "--restore-timeout",
        min=0.0,
        help="seconds after the fault cleared to wait for a restoring platform",
    ),
    flags_mode: str = typer.Option("auto", "--flags", help="SDK mode: auto|streaming|polling"),
) -> None:
    """Run the whole loop: platform, CDN, website, load, fault, remediation, report."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console

    from selfheal.demo.report import Report
    from selfheal.demo.scenario import DemoOptions, Scenario

    console = Console(stderr=json_out)
    options = DemoOptions(
        data_dir=data_dir,
        report_dir=report_dir,
        rate=rate,
        fault_rate=fault_rate,
        fault_latency_ms=fault_latency_ms,
        baseline_seconds=baseline,
        timeout=timeout,
        fault_seconds=None if keep_fault else fault_seconds,
        restore_timeout=restore_timeout,
        flags_mode=flags_mode,
        keep_running=keep_running,
        live=console.is_terminal,
    )

    def closed(report: Report) -> None:
        scenario.print_summary()
        if json_out:
            sys.stdout.write(report.json_line() + "\n")
            sys.stdout.flush()

    scenario = Scenario(options, console, on_closed=closed)
    report = run_cancellable(scenario.run())
    raise typer.Exit(0 if report.ok else 1)


@demo_app.command("website")
def website(
    port: int = typer.Option(8080, "--port"),
    host: str = typer.Option("127.0.0.1", "--host"),
    unleash_url: str = typer.Option("http://127.0.0.1:4242", "--unleash-url"),
    token: str = typer.Option(..., "--token", envvar="UNLEASH_API_TOKEN", help="client token"),
    cdn_url: str = typer.Option("http://127.0.0.1:8081/", "--cdn-url"),
    flags: str = typer.Option("streaming", "--flags", help="streaming|polling"),
    cache_dir: str = typer.Option(None, "--cache-dir", help="the SDK's backup cache"),
) -> None:
    """The demo website: its own page (blue) or, with EnableStaticContent on, the CDN's (green)."""
    import httpx
    import uvicorn

    from selfheal.demo import Backend, CdnPage, UnleashFlags, create_website

    source = UnleashFlags(
        unleash_url, token, streaming=flags == "streaming", cache_directory=cache_dir
    )

    async def serve() -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            app = create_website(source, Backend(), CdnPage(cdn_url, client))
            config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
            await uvicorn.Server(config).serve()

    try:
        asyncio.run(serve())
    finally:
        source.close()


@demo_app.command("cdn")
def cdn(
    port: int = typer.Option(8081, "--port"),
    host: str = typer.Option("127.0.0.1", "--host"),
    directory: Path = typer.Option(None, "--dir", help="serve this directory instead"),
) -> None:
    """The demo CDN: serves the static (green) copy of the page."""
    import uvicorn

    from selfheal.demo import create_cdn

    uvicorn.run(create_cdn(directory), host=host, port=port, log_level="warning", lifespan="off")


@demo_app.command("fault")
def fault(
    rate: float = typer.Option(0.5, "--rate", help="share of backend calls that fail (0..1)"),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="added to every backend call"),
    clear: bool = typer.Option(False, "--clear", help="remove the fault"),
    url: str = typer.Option("http://127.0.0.1:8080", "--url", help="the demo website"),
) -> None:
    """Inject (or clear) a fault in the website's own code path."""
    import httpx

    target = url.rstrip("/") + "/_fault"
    try:
        if clear:
            r = httpx.delete(target, timeout=5.0)
        else:
            r = httpx.post(target, json={"rate": rate, "latency_ms": latency_ms}, timeout=5.0)
    except httpx.HTTPError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if r.status_code >= 400:
        typer.echo(f"error: {r.status_code} {r.text}", err=True)
        raise typer.Exit(1)
    typer.echo(f"fault now {r.json()}")


def loadgen(
    url: str = typer.Argument(..., help="the page to load, e.g. http://127.0.0.1:8080/"),
    rate: float = typer.Option(None, "--rate", help="requests per second (20; 0.2 with --seed)"),
    duration: float = typer.Option(60.0, "--duration", help="seconds, then it stops"),
    seed: bool = typer.Option(False, "--seed", help="the seed's loadGenErrors.sh traffic"),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Open-loop load at a steady rate; prints statuses and served_by over time."""
    from selfheal.demo.loadgen import run_loadgen

    code = run_cancellable(
        run_loadgen(url, rate=rate, duration=duration, seed=seed, json_out=json_out)
    )
    raise typer.Exit(code)


def _never_clear_minutes(value: float | None) -> float | None:
    from selfheal.demo.mttr import MAX_NEVER_CLEAR_MINUTES

    if value is not None and not 0 < value <= MAX_NEVER_CLEAR_MINUTES:
        raise typer.BadParameter(f"must be more than 0 and at most {MAX_NEVER_CLEAR_MINUTES:g}")
    return value


@bench_app.command("mttr")
def mttr(
    runs: int = typer.Option(10, "-n", "--runs", min=1, max=1000, help="demo runs to time"),
    baseline_minutes: float = typer.Option(
        10.0, "--baseline-minutes", min=0.0, max=24 * 60.0, help="0 skips it"
    ),
    baseline_error_rate: float = typer.Option(0.01, "--baseline-error-rate", min=0.0, max=1.0),
    never_clear_minutes: float = typer.Option(
        None,
        "--never-clear-minutes",
        callback=_never_clear_minutes,
        help=(
            "instead of the N runs: one demo whose fault never clears, watched this long after "
            "mitigation (restore attempts, breaches, completed restores, errors they served)"
        ),
    ),
    fault_rate: float = typer.Option(
        0.5, "--fault-rate", min=0.01, max=1.0, help="share of failing backend calls"
    ),
    out: Path = typer.Option(None, "--out", help="write the results as JSON here"),
) -> None:
    """Median and p95 of each phase over N demo runs, and false problems at 1 % errors."""
    from rich.console import Console

    from selfheal.demo.mttr import run_bench, run_never_clear

    if never_clear_minutes is not None:
        ok = run_cancellable(
            run_never_clear(Console(), minutes=never_clear_minutes, out=out, fault_rate=fault_rate)
        )
        raise typer.Exit(0 if ok else 1)
    ok = run_cancellable(
        run_bench(
            Console(),
            runs=runs,
            baseline_seconds=baseline_minutes * 60,
            baseline_error_rate=baseline_error_rate,
            out=out,
            fault_rate=fault_rate,
        )
    )
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    """Add this context's commands to the root `selfheal` app."""
    app.add_typer(demo_app, name="demo")
    app.command("loadgen")(loadgen)
    app.add_typer(bench_app, name="bench")
