"""`selfheal bench mttr`: how fast the loop closes, and whether it cries wolf.

N full demo runs (fresh platform each time) give the median and p95 of every phase; a
baseline run at a steady 1 % of random errors counts problems that should never open.

A run that could not measure (its report is `valid: false`: a CDN answer before the flag was
on, a stalled load generator, a timeline out of order, …) is printed with its reasons and
left out of the medians; it never contributes numbers. With a platform that restores by
itself, the table also has time to restore (fault cleared → flag off) and the errors users
got while restores were attempted.
"""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from selfheal.demo.attempts import GOAL_ERROR_SHARE, kept_fault_goal
from selfheal.demo.loadgen import LoadGenerator
from selfheal.demo.platform import Platform, is_ours
from selfheal.demo.scenario import DemoOptions, Scenario
from selfheal.demo.timeline import ALL_STEPS, STEPS
from selfheal.demo.traffic import percentile
from selfheal.demo.watch import problem_id

GOAL_MEDIAN = 2.0
GOAL_P95 = 4.0
"""Fault → first CDN response, seconds."""
GOAL_RESTORE_MEDIAN = 30.0
GOAL_RESTORE_P95 = 45.0
"""Fault cleared → flag off, seconds (a platform that restores by itself, issue 13)."""
MAX_NEVER_CLEAR_MINUTES = 120.0


DERIVED: tuple[tuple[str, str], ...] = (
    ("time_to_mitigate", "time to mitigate (fault → first CDN response)"),
    ("time_to_restore", "time to restore (fault cleared → flag off)"),
)


def phase_stats(reports: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Median, p95 and max of each phase over the *valid* reports (the others never count)."""
    measured = [r for r in reports if r.get("valid", True)]
    out: dict[str, dict[str, float | int | None]] = {}
    for step, _ in (*ALL_STEPS, *DERIVED):
        values = sorted(float(r[step]) for r in measured if r.get(step) is not None)
        out[step] = {
            "reached": len(values),
            "median": round(statistics.median(values), 3) if values else None,
            "p95": round(percentile(values, 0.95), 3) if values else None,
            "max": round(values[-1], 3) if values else None,
        }
    return out


def restore_errors(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Errors users got while restores were attempted, summed over the valid runs."""
    windows = [
        r["restore_traffic"] for r in reports if r.get("valid", True) and r.get("restore_traffic")
    ]
    if not windows:
        return None
    requests = sum(int(w["requests"]) for w in windows)
    errors = sum(int(w["errors"]) for w in windows)
    return {
        "runs": len(windows),
        "requests": requests,
        "errors": errors,
        "error_share": round(errors / requests, 5) if requests else None,
    }


def restore_goal(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Time to restore over the valid runs whose fault cleared on a restoring platform; a
    run that never switched the flag off counts against the goal (None: no such run)."""
    runs = [
        r
        for r in reports
        if r.get("valid", True) and r.get("restoring") and r.get("fault_cleared") is not None
    ]
    if not runs:
        return None
    values = sorted(
        float(r["time_to_restore"]) for r in runs if r.get("time_to_restore") is not None
    )
    median = round(statistics.median(values), 3) if values else None
    p95 = round(percentile(values, 0.95), 3) if values else None
    met = (
        len(values) == len(runs)
        and median is not None
        and median <= GOAL_RESTORE_MEDIAN
        and p95 is not None
        and p95 <= GOAL_RESTORE_P95
    )
    return {
        "runs": len(runs),
        "restored": len(values),
        "median": median,
        "p95": p95,
        "goal": {"median": GOAL_RESTORE_MEDIAN, "p95": GOAL_RESTORE_P95},
        "met": met,
    }


def run_line(i: int, runs: int, report: dict[str, Any]) -> str:
    """One run: its numbers, or — when it could not measure — why, and no numbers."""
    head = f"run {i}/{runs}: "
    if not report.get("valid", True):
        return head + "NOT MEASURED (excluded): " + "; ".join(report.get("invalid") or [])
    steps = [s for s, _ in STEPS] + [s for s, _ in ALL_STEPS[len(STEPS) :] if report.get(s)]
    return (
        head
        + f"ok={report['ok']} "
        + " ".join(f"{step}={report.get(step)}" for step in steps)
        + (f" error={report['error']}" if report.get("error") else "")
    )


async def baseline(
    console: Console, *, seconds: float, error_rate: float, rate: float = 20.0
) -> dict[str, Any]:
    """Healthy-but-noisy traffic for `seconds`; every problem that opens is a false one."""
    options = DemoOptions(live=False, plot=False, rate=rate, fault_rate=error_rate)
    scenario = Scenario(options, Console(file=io.StringIO()))
    ep = scenario.stack.endpoints
    seen: set[str] = set()
    samples = 0
    try:
        async with (
            httpx.AsyncClient(timeout=5.0) as plain,
            httpx.AsyncClient(
                base_url=ep.platform, headers={"Authorization": ep.admin_token}, timeout=5.0
            ) as admin,
        ):
            platform = Platform(admin)
            await scenario.bring_up(plain, platform)
            r = await plain.post(f"{ep.website}/_fault", json={"rate": error_rate})
            r.raise_for_status()
            async with httpx.AsyncClient(timeout=2.0) as load:
                gen = LoadGenerator(ep.website + "/", load, rate=rate, duration=seconds)
                task = asyncio.create_task(gen.run())
                started = time.monotonic()
                while not task.done():
                    await asyncio.wait({task}, timeout=2.0)
                    scenario.stack.check_alive()
                    for p in await platform.problems():
                        if is_ours(p):
                            seen.add(problem_id(p))
                    console.print(
                        f"  baseline {time.monotonic() - started:6.0f}/{seconds:.0f} s, "
                        f"{len(gen.samples)} requests, {len(seen)} problems",
                        end="\r",
                    )
                samples = len(task.result())
    finally:
        scenario.stack.stop()
    console.print()
    return {
        "seconds": seconds,
        "error_rate": error_rate,
        "requests": samples,
        "false_problems": len(seen),
        "problem_ids": sorted(seen),
    }


async def demo_run(fault_rate: float = 0.5) -> dict[str, Any]:
    """One full demo on a fresh platform, quietly; its report as JSON-ready data."""
    options = DemoOptions(live=False, plot=False, fault_rate=fault_rate)
    scenario = Scenario(options, Console(file=io.StringIO()))
    return (await scenario.run()).as_dict()


async def run_bench(
    console: Console,
    *,
    runs: int,
    baseline_seconds: float,
    baseline_error_rate: float,
    out: Path | None = None,
    fault_rate: float = 0.5,
    demo: Callable[[], Awaitable[dict[str, Any]]] | None = None,
) -> bool:
    """`demo` runs one demo and returns its report (a fresh `Scenario` at `fault_rate`
    unless a test says)."""
    reports: list[dict[str, Any]] = []
    for i in range(max(1, min(runs, 1000))):
        report = await (demo() if demo is not None else demo_run(fault_rate))
        reports.append(report)
        console.print(run_line(i + 1, runs, report), highlight=False)
    stats = phase_stats(reports)
    valid = [r for r in reports if r.get("valid", True)]
    table = Table(
        title=f"Seconds from fault onset over {len(valid)} measured runs", header_style="bold"
    )
    for column in ("phase", "reached", "median", "p95", "max"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for step, label in (*ALL_STEPS, *DERIVED):
        s = stats[step]
        if step not in dict(STEPS) and not s["reached"]:
            continue
        table.add_row(
            label, f"{s['reached']}/{len(valid)}", str(s["median"]), str(s["p95"]), str(s["max"])
        )
    console.print(table)
    excluded = len(reports) - len(valid)
    if excluded:
        console.print(f"[yellow]{excluded} of {len(reports)} runs could not measure[/yellow]")
    errors = restore_errors(reports)
    if errors is not None:
        console.print(
            f"errors served to users during restore attempts: {errors['errors']} of "
            f"{errors['requests']} requests over {errors['runs']} runs"
        )
    restore = restore_goal(reports)
    if restore is not None:
        console.print(
            f"time to restore: {restore['restored']} of {restore['runs']} runs restored, median "
            f"{restore['median']} s (goal ≤ {GOAL_RESTORE_MEDIAN:g}), p95 {restore['p95']} s "
            f"(goal ≤ {GOAL_RESTORE_P95:g})"
        )
    result: dict[str, Any] = {
        "runs": len(reports),
        "measured_runs": len(valid),
        "excluded_runs": excluded,
        "excluded": [
            {"run": i + 1, "reasons": r.get("invalid")}
            for i, r in enumerate(reports)
            if not r.get("valid", True)
        ],
        "ok_runs": sum(1 for r in valid if r["ok"]),
        "phases": stats,
        "restore_errors": errors,
        "restore": restore,
        "goal": {
            "first_cdn_response": {"median": GOAL_MEDIAN, "p95": GOAL_P95},
            "time_to_restore": {"median": GOAL_RESTORE_MEDIAN, "p95": GOAL_RESTORE_P95},
            "false_problems": 0,
        },
    }
    if baseline_seconds > 0:
        base = await baseline(console, seconds=baseline_seconds, error_rate=baseline_error_rate)
        result["baseline"] = base
        console.print(
            f"baseline: {base['seconds']:.0f} s at {base['error_rate']:.0%} random errors, "
            f"{base['requests']} requests → {base['false_problems']} false problems"
        )
    cdn = stats["first_cdn_response"]
    met = (
        bool(valid)
        and result["ok_runs"] == len(valid)
        and cdn["median"] is not None
        and float(cdn["median"]) <= GOAL_MEDIAN
        and float(cdn["p95"] or 0.0) <= GOAL_P95
        and result.get("baseline", {}).get("false_problems", 0) == 0
        and (restore is None or bool(restore["met"]))
    )
    result["goal_met"] = met
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**result, "reports": reports}, indent=2))
    console.print("[green]goal met[/green]" if met else "[red]goal not met[/red]")
    return met


async def kept_fault_demo(seconds: float, fault_rate: float) -> dict[str, Any]:
    """One demo whose fault never clears, watched `seconds` after mitigation, quietly."""
    options = DemoOptions(
        live=False,
        plot=False,
        fault_rate=fault_rate,
        fault_seconds=None,
        kept_fault_seconds=seconds,
    )
    scenario = Scenario(options, Console(file=io.StringIO()))
    return (await scenario.run()).as_dict()


def kept_fault_lines(window: dict[str, Any]) -> list[str]:
    """The never-clearing run's figures, in words."""
    share = window["origin_errors"] / window["requests"] if window["requests"] else 0.0
    lines = [
        f"window: {window['seconds']:.0f} s from mitigation, {window['requests']} requests "
        f"({window['served_by']['cdn']} by the CDN, {window['served_by']['app']} by the origin)",
        f"restore attempts: {window['attempts']} ({window['steps']} steps), breaches: "
        f"{window['breaches']}, completed restores: {window['completed_restores']}",
        f"errors served by the origin: {window['origin_errors']} = {share:.3%} of all requests "
        f"(goal ≤ {GOAL_ERROR_SHARE:.1%}); {window['errors_by_attempts']} during attempts, "
        f"{window['origin_errors_outside_attempts']} outside; all errors users got: "
        f"{window['errors']}",
    ]
    for i, a in enumerate(window["attempt_list"]):
        breach = a["breach"] or {}
        lines.append(
            f"  attempt {i + 1} at +{a['started']:.0f} s: {a['steps']} step(s), lowest "
            f"{a['lowest_fallback']} % on the fallback, "
            + (
                f"breached after {a['breached_after']} s ({breach.get('failures')} of "
                f"{breach.get('requests')} origin requests failed)"
                if a["breached_after"] is not None
                else "not breached"
            )
            + f", {a['errors']} errors served"
        )
    return lines


async def run_never_clear(
    console: Console,
    *,
    minutes: float,
    out: Path | None = None,
    fault_rate: float = 0.5,
    demo: Callable[[float, float], Awaitable[dict[str, Any]]] = kept_fault_demo,
) -> bool:
    """One demo with the fault kept for `minutes` after mitigation: restore attempts,
    breaches, completed restores (goal 0) and the errors they served (goal ≤ 0.5 % of all
    requests in the window). `demo` runs it (a fresh `Scenario` unless a test says)."""
    if not 0 < minutes <= MAX_NEVER_CLEAR_MINUTES:
        raise ValueError(f"minutes must be in (0, {MAX_NEVER_CLEAR_MINUTES:g}]")
    if not 0 < fault_rate <= 1:
        raise ValueError("fault_rate must be in (0, 1]")
    console.print(
        f"fault kept ({fault_rate:.0%} of backend calls fail), watching {minutes:g} min after "
        "mitigation …"
    )
    report = await demo(minutes * 60.0, fault_rate)
    window = report.get("kept_fault")
    valid = bool(report.get("valid", True))
    met, why = kept_fault_goal(window)
    if not valid:
        console.print("NOT MEASURED: " + "; ".join(report.get("invalid") or []), highlight=False)
        met = False
    console.print(
        f"demo: ok={report.get('ok')} problem_mitigated={report.get('problem_mitigated')} "
        f"time_to_mitigate={report.get('time_to_mitigate')}"
        + (f" error={report['error']}" if report.get("error") else ""),
        highlight=False,
    )
    for check in report.get("checks") or []:
        if not check.get("ok"):
            console.print(f"check failed: {check['name']} ({check.get('detail')})", highlight=False)
    if window is not None:
        for line in kept_fault_lines(window):
            console.print(line, highlight=False)
    for reason in why:
        console.print(f"[red]{reason}[/red]", highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "minutes": minutes,
            "fault_rate": fault_rate,
            "valid": valid,
            "goal": {"completed_restores": 0, "origin_error_share": GOAL_ERROR_SHARE},
            "goal_met": met,
            "not_met": why,
            "kept_fault": window,
            "report": report,
        }
        out.write_text(json.dumps(result, indent=2))
    console.print("[green]goal met[/green]" if met else "[red]goal not met[/red]")
    return met
