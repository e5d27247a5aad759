"""`selfheal demo`: the seed's story end to end, against real processes over real sockets.

Set up like the blog post (flag, project with the seed's shipyard and remediations, the
website registered with the monitor under the seed's tags), run steady load, inject a fault,
then watch — through the platform's public APIs only — until the problem is opened, the flag
flipped, traffic served by the CDN and the problem resolved. Exit 0 only if that happened.
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

from selfheal.demo.live import LiveState, render, timeline_table
from selfheal.demo.loadgen import LoadGenerator
from selfheal.demo.platform import PROJECT, Platform, is_ours
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
    """Seconds after the fault to wait for the loop to close."""
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
            "flags": f"{ep.platform}/flags",
            "problems": f"{ep.platform}/problems",
            "sequences": f"{ep.platform}/bridge/project/{PROJECT}",
            "platform": ep.platform,
        }
        report.settings = {
            "rate": self.options.rate,
            "fault_rate": self.options.fault_rate,
            "fault_latency_ms": self.options.fault_latency_ms,
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
            max_total = opts.baseline_seconds + opts.timeout + opts.settle_seconds + 5
            gen = LoadGenerator(
                ep.website + "/", load, rate=opts.rate, duration=max_total, on_sample=self.state.add
            )
            report.samples = gen.samples
            task = asyncio.create_task(gen.run())
            try:
                self.state.phase = "baseline load"
                await self._sleep_checking(opts.baseline_seconds)
                watcher = Watcher(platform, report.timeline, samples=gen.samples, say=self.say)
                self.state.phase = "fault injected"
                report.timeline.fault_at = time.time()
                r = await plain.post(
                    f"{ep.website}/_fault",
                    json={"rate": opts.fault_rate, "latency_ms": opts.fault_latency_ms},
                )
                r.raise_for_status()
                self.say(f"fault injected: {opts.fault_rate:.0%} of backend calls fail")
                deadline = time.monotonic() + opts.timeout
                while time.monotonic() < deadline and not watcher.closed:
                    self.stack.check_alive()
                    await watcher.poll()
                    self._update_state(watcher)
                    await asyncio.sleep(0.2)
                self.state.phase = "verifying"
                await self._sleep_checking(opts.settle_seconds)
                await watcher.poll()
                self._update_state(watcher)
            finally:
                gen.stop()
                await task
        await watcher.verify(report)
        self.state.phase = "done: loop closed" if report.ok else "done: loop NOT closed"

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
        self.console.print(timeline_table(self.report.timeline))
        for check in self.report.checks:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            self.console.print(f" {mark} {check.name}  [dim]{check.detail}[/dim]")
        if self.report.error:
            self.console.print(f"[red]error:[/red] {self.report.error}")
        for name, path in self.report.files.items():
            self.console.print(f"{name}: {path}")
        verdict = (
            "[bold green]the loop closed[/bold green]"
            if self.report.ok
            else "[bold red]the loop did not close[/bold red]"
        )
        self.console.print(verdict)


__all__ = ["DemoOptions", "Scenario", "is_ours", "monitor_spec"]
