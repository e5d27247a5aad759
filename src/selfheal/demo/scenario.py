"""`selfheal demo`: the seed's story end to end, against real processes over real sockets.

Set up like the blog post (flag, project with the seed's shipyard and remediations, the
website registered with the monitor under the seed's tags), run steady load, inject a fault,
then watch — through the platform's public APIs only — until the problem is opened, the flag
flipped, traffic served by the CDN and the problem resolved. The fault clears after
`fault_seconds` (the incident is over); a platform that restores by itself (its problem is
*mitigated*, not resolved, while the fallback serves) is then watched until it has verified
the origin, switched the flag off and resolved the problem. Exit 0 only if the loop closed
and the run measured what it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.live import Live

from selfheal.core import pages
from selfheal.demo.attempts import kept_fault_window
from selfheal.demo.live import LiveState, render, timeline_table
from selfheal.demo.loadgen import LoadGenerator
from selfheal.demo.platform import FLAG_PROJECT, PROJECT, Platform, is_ours
from selfheal.demo.processes import ProcessGroup
from selfheal.demo.report import Report
from selfheal.demo.stack import Stack, StackOptions
from selfheal.demo.watch import Watcher
from selfheal.demo.website import FLAG_NAME


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path | None = None
    report_dir: Path | None = None
    rate: float = 20.0
    fault_rate: float = 0.5
    fault_latency_ms: float = 0.0
    baseline_seconds: float = 4.0
    timeout: float = 45.0
    """Seconds after the fault to wait for the mitigation (traffic on the CDN)."""
    fault_seconds: float | None = 20.0
    """The fault clears this long after it began; None keeps it for the whole run."""
    restore_timeout: float = 90.0
    """Seconds after the fault cleared to wait for a restoring platform to switch back."""
    kept_fault_seconds: float = 0.0
    """With the fault kept (`fault_seconds` None): keep the load on and watch this long after
    the problem was mitigated, counting restore attempts (`selfheal bench mttr
    --never-clear-minutes`); 0 ends the run at mitigation."""
    settle_seconds: float = 1.5
    """Load kept on after the loop closed, to show the CDN serving steadily."""
    hold_seconds: float = 3.0
    flags_mode: str = "auto"
    keep_running: bool = False
    live: bool = True
    plot: bool = True
    platform_env: dict[str, str] = field(default_factory=dict)


def seed_file(name: str) -> str:
    return files("selfheal.demo").joinpath(f"seed/{name}").read_text(encoding="utf-8")


def monitor_spec(website: str) -> dict[str, Any]:
    """The website's entry of the packaged monitor.yaml, pointed at its real URL."""
    text = Template(seed_file("monitor.yaml")).substitute(website=website)
    spec: dict[str, Any] = yaml.safe_load(text)["services"][0]
    return spec


class Scenario:
    def __init__(
        self,
        options: DemoOptions,
        console: Console,
        *,
        on_closed: Callable[[Report], None] | None = None,
    ) -> None:
        """`on_closed` runs once the loop is verified, before `--keep-running` waits."""
        self.options = options
        self.console = console
        self.on_closed = on_closed
        data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="selfheal-demo-"))
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.processes = ProcessGroup(data_dir / "logs")
        self.stack = Stack(
            StackOptions(
                data_dir=data_dir,
                hold_seconds=options.hold_seconds,
                platform_env=options.platform_env,
            ),
            self.processes,
        )
        self.report = Report(timeline=Watcher.new_timeline(), samples=[])
        self.state = LiveState(timeline=self.report.timeline)
        self._fault_clearer: asyncio.Task[None] | None = None

    def say(self, message: str) -> None:
        self.state.steps.append(message)
        if not self.options.live:
            self.console.print(message, soft_wrap=True, markup=False, highlight=False)

    async def run(self) -> Report:
        report = self.report
        report.started_at = time.time()
        ep = self.stack.endpoints
        report.urls = {
            "website": ep.website + "/",
            "cdn": ep.cdn + "/",
            "flag": pages.absolute(ep.platform, pages.flag(FLAG_PROJECT, FLAG_NAME)),
            "problems": pages.absolute(ep.platform, pages.problems()),
            "sequences": pages.absolute(ep.platform, pages.project(PROJECT)),
            "platform": ep.platform,
        }
        report.settings = {
            "rate": self.options.rate,
            "fault_rate": self.options.fault_rate,
            "fault_latency_ms": self.options.fault_latency_ms,
            "fault_seconds": self.options.fault_seconds,
            "kept_fault_seconds": self.options.kept_fault_seconds,
            "data_dir": str(self.data_dir),
        }
        try:
            async with (
                httpx.AsyncClient(timeout=5.0) as plain,
                httpx.AsyncClient(
                    base_url=ep.platform, headers={"Authorization": ep.admin_token}, timeout=5.0
                ) as admin,
            ):
                try:
                    await self._live_loop(plain, Platform(admin))
                except Exception as exc:
                    report.error = f"{type(exc).__name__}: {exc}"
                if self.options.keep_running:
                    report.settings["admin_token"] = ep.admin_token
                    report.settings["admin_password"] = self.stack.admin_password
                self._finish()
                if self.on_closed is not None:
                    self.on_closed(report)
                if self.options.keep_running and report.error is None:
                    await self._keep_running()
        except asyncio.CancelledError:
            report.error = report.error or "interrupted"
            raise
        finally:
            if self._fault_clearer is not None:
                self._fault_clearer.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await self._fault_clearer
            self.stack.stop()
            if not report.files:
                self._finish()
        return report

    def _finish(self) -> None:
        report = self.report
        report.finished_at = time.time()
        report_dir = self.options.report_dir or self.data_dir / "report"
        try:
            report.write(report_dir, plot=self.options.plot)
        except OSError as exc:
            self.console.print(f"could not write the report: {exc}", markup=False)

    async def _live_loop(self, plain: httpx.AsyncClient, platform: Platform) -> None:
        if not self.options.live:
            await self._loop(plain, platform)
            return
        with Live(
            render(self.state), console=self.console, refresh_per_second=4, transient=False
        ) as live:
            refresher = asyncio.create_task(self._refresh(live))
            try:
                await self._loop(plain, platform)
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
                live.update(render(self.state))

    async def _refresh(self, live: Live) -> None:
        for _ in range(100_000):
            live.update(render(self.state))
            await asyncio.sleep(0.25)

    async def bring_up(self, plain: httpx.AsyncClient, platform: Platform) -> None:
        """Start the platform and CDN, set everything up like the blog post, start the website."""
        opts, ep, report = self.options, self.stack.endpoints, self.report
        self.state.phase = "starting platform and CDN"
        self.stack.start_platform_and_cdn()
        await self.stack.wait_platform_and_cdn(plain)
        self.say(f"platform ready at {ep.platform}, CDN at {ep.cdn}")

        self.state.phase = "setting up"
        await platform.create_flag(FLAG_NAME)
        self.say(f"flag {FLAG_NAME} created (off in production)")
        await platform.create_project(seed_file("shipyard.yaml"))
        await platform.create_service()
        await platform.add_resource("remediation.yaml", seed_file("remediations.yaml"))
        self.say("project website, service front-end, remediation.yaml from the seed")
        await platform.register_service(monitor_spec(ep.website))
        self.say("website registered with the monitor (keptn_project=website, …)")

        streaming = opts.flags_mode == "streaming" or (
            opts.flags_mode == "auto" and await self.stack.supports_streaming(plain)
        )
        report.settings["flags_mode"] = "streaming" if streaming else "polling"
        self.state.phase = "starting the website"
        self.stack.start_website(streaming=streaming)
        await self.stack.wait_website(plain)
        self.say(f"website up at {ep.website} (UnleashClient, {report.settings['flags_mode']})")

    async def _loop(self, plain: httpx.AsyncClient, platform: Platform) -> None:
        opts, ep, report = self.options, self.stack.endpoints, self.report
        await self.bring_up(plain, platform)
        async with httpx.AsyncClient(timeout=2.0, limits=httpx.Limits(max_connections=100)) as load:
            gen = LoadGenerator(
                ep.website + "/",
                load,
                rate=opts.rate,
                duration=self._load_bound(),
                on_sample=self.state.add,
            )
            report.samples = gen.samples
            task = asyncio.create_task(gen.run())
            watcher = Watcher(platform, report.timeline, samples=gen.samples, say=self.say)
            window: tuple[float, float] | None = None
            try:
                self.state.phase = "baseline load"
                await self._sleep_checking(opts.baseline_seconds)
                self.state.phase = "fault injected"
                await self._inject_fault(plain, watcher)
                await self._watch(watcher, opts.timeout, lambda: watcher.mitigated)
                if watcher.restoring and opts.fault_seconds is not None:
                    self.state.phase = "mitigated; restoring once the fault clears"
                    fault_at = report.timeline.fault_at or time.time()
                    wait = fault_at + opts.fault_seconds - time.time() + opts.restore_timeout
                    await self._watch(watcher, wait, lambda: watcher.restored)
                elif opts.fault_seconds is None and opts.kept_fault_seconds > 0:
                    window = await self._watch_kept_fault(watcher)
                self.state.phase = "verifying"
                await self._sleep_checking(opts.settle_seconds)
                await watcher.poll()
                self._update_state(watcher)
            finally:
                gen.stop()
                await task
        await watcher.verify(report, load_stopped_at=gen.stopped_at)
        if window is not None:
            report.kept_fault = kept_fault_window(watcher.events, gen.samples, *window)
        report.urls.update(watcher.links(ep.platform))
        report.assess(rate=opts.rate, load_stopped_at=gen.stopped_at, load_ended_by=gen.ended_by)
        self.state.phase = "done: loop closed" if report.ok else "done: loop NOT closed"

    def _load_bound(self) -> float:
        """Longer than the run can last: the runner stops the load, its bound never does."""
        opts = self.options
        restore = (opts.fault_seconds or 0.0) + opts.restore_timeout + opts.kept_fault_seconds
        return opts.baseline_seconds + opts.timeout + restore + opts.settle_seconds + 60.0

    async def _watch(
        self,
        watcher: Watcher,
        seconds: float,
        done: Callable[[], bool],
        *,
        interval: float = 0.2,
    ) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not done():
            self.stack.check_alive()
            await watcher.poll()
            self._update_state(watcher)
            if done():
                break
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    async def _watch_kept_fault(self, watcher: Watcher) -> tuple[float, float] | None:
        """The fault never clears: watch `kept_fault_seconds` from the monitor's own
        `mitigatedSince` (polling once a second); the window (epoch s), None if the problem
        was never mitigated."""
        if not watcher.mitigated:
            return None
        opts = self.options
        start = self.report.timeline.at.get("problem_mitigated", time.time())
        end = start + opts.kept_fault_seconds
        self.state.phase = (
            f"fault kept: watching restore attempts for {opts.kept_fault_seconds:g} s"
        )
        self.say(self.state.phase)
        await self._watch(watcher, end - time.time(), lambda: False, interval=1.0)
        return start, end

    async def _inject_fault(self, plain: httpx.AsyncClient, watcher: Watcher) -> None:
        """Set the fault; its onset is the website's own record of it."""
        opts, ep = self.options, self.stack.endpoints
        asked = time.time()
        r = await plain.post(
            f"{ep.website}/_fault",
            json={"rate": opts.fault_rate, "latency_ms": opts.fault_latency_ms},
        )
        r.raise_for_status()
        watcher.fault_set(_changed_at(r) or asked)
        self.say(f"fault injected: {opts.fault_rate:.0%} of backend calls fail")
        if opts.fault_seconds is not None:
            self._fault_clearer = asyncio.create_task(self._clear_fault_later(plain, watcher))

    async def _clear_fault_later(self, plain: httpx.AsyncClient, watcher: Watcher) -> None:
        """The incident ends: the fault clears `fault_seconds` after it began."""
        assert self.options.fault_seconds is not None
        onset = self.report.timeline.fault_at or time.time()
        await asyncio.sleep(max(0.0, onset + self.options.fault_seconds - time.time()))
        asked = time.time()
        r = await plain.delete(f"{self.stack.endpoints.website}/_fault")
        r.raise_for_status()
        watcher.fault_cleared(_changed_at(r) or asked)

    def _update_state(self, watcher: Watcher) -> None:
        self.state.problem = watcher.problem_summary()
        self.state.flag = "on" if watcher.flag_on else "off"
        self.state.sequence = watcher.sequence_summary()

    async def _sleep_checking(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.stack.check_alive()
            await asyncio.sleep(min(0.2, max(0.0, end - time.monotonic())))

    async def _keep_running(self) -> None:
        self.console.print("\nEverything is still running (Ctrl-C stops it):")
        for name, url in self.report.urls.items():
            self.console.print(f"  {name:10} {url}", soft_wrap=True, highlight=False)
        self.console.print(f"  admin token {self.stack.endpoints.admin_token}", soft_wrap=True)
        self.console.print(f"  UI login    admin / {self.stack.admin_password}", soft_wrap=True)
        for _ in range(24 * 3600):
            self.stack.check_alive()
            await asyncio.sleep(1.0)

    def print_summary(self) -> None:
        report = self.report
        self.console.print(timeline_table(report.timeline))
        for check in report.checks:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            self.console.print(f" {mark} {check.name}  [dim]{check.detail}[/dim]")
        for reason in report.invalid:
            self.console.print(f" [red]✗ not measured:[/red] {reason}", highlight=False)
        if report.error:
            self.console.print(f"[red]error:[/red] {report.error}")
        for name in ("problem", "sequence"):
            if name in report.urls:
                self.console.print(f"{name}: {report.urls[name]}", soft_wrap=True, highlight=False)
        for name, path in report.files.items():
            self.console.print(f"{name}: {path}")
        if report.ok:
            verdict = "[bold green]the loop closed[/bold green]"
        elif not report.valid:
            verdict = "[bold red]this run could not measure the loop (see above)[/bold red]"
        else:
            verdict = "[bold red]the loop did not close[/bold red]"
        self.console.print(verdict)


def _changed_at(response: httpx.Response) -> float | None:
    value = response.json().get("changed_at")
    return float(value) if isinstance(value, int | float) else None


__all__ = ["DemoOptions", "Scenario", "is_ours", "monitor_spec"]
