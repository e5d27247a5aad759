"""`selfheal bench mttr` never turns a run that could not measure into numbers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from selfheal.demo.mttr import phase_stats, restore_errors, run_bench, run_line


def report(cdn: float, *, valid: bool = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": valid,
        "valid": valid,
        "invalid": [] if valid else ["120 responses served by the CDN before this run's flag"],
        "error": None,
        "problem_opened": cdn - 0.3,
        "action_triggered": cdn - 0.2,
        "flag_on": cdn - 0.1,
        "first_cdn_response": cdn,
        "problem_resolved": cdn + 5,
        "sequence_finished": cdn + 5,
        "time_to_mitigate": cdn,
        "time_to_restore": None,
        "restore_traffic": None,
    }
    body.update(extra)
    return body


def test_invalid_runs_are_left_out_of_the_medians() -> None:
    reports = [report(1.2), report(1.4), report(0.043, valid=False, flag_on=0.9)]
    stats = phase_stats(reports)
    assert stats["first_cdn_response"] == {"reached": 2, "median": 1.3, "p95": 1.4, "max": 1.4}
    assert stats["time_to_restore"]["reached"] == 0


def test_a_run_that_could_not_measure_prints_its_reasons_and_no_numbers() -> None:
    line = run_line(6, 6, report(0.043, valid=False))
    assert line.startswith("run 6/6: NOT MEASURED (excluded): 120 responses served by the CDN")
    assert "0.043" not in line
    assert "first_cdn_response=1.2" in run_line(1, 6, report(1.2))


def test_errors_during_restore_attempts_are_summed_over_measured_runs() -> None:
    window = {"requests": 400, "errors": 2}
    reports = [
        report(1.2, restore_traffic=window, time_to_restore=20.0, flag_off=40.0),
        report(1.3, restore_traffic={"requests": 600, "errors": 3}, time_to_restore=24.0),
        report(0.1, valid=False, restore_traffic={"requests": 10, "errors": 10}),
    ]
    assert restore_errors(reports) == {
        "runs": 2,
        "requests": 1000,
        "errors": 5,
        "error_share": 0.005,
    }
    assert phase_stats(reports)["time_to_restore"]["median"] == 22.0
    assert restore_errors([report(1.0)]) is None


async def test_the_bench_excludes_and_names_the_runs_it_could_not_measure(tmp_path: Path) -> None:
    runs = iter([report(1.2), report(1.4), report(0.043, valid=False)])

    async def demo() -> dict[str, Any]:
        return next(runs)

    out = io.StringIO()
    console = Console(file=out, width=200)
    out_file = tmp_path / "mttr.json"
    met = await run_bench(
        console,
        runs=3,
        baseline_seconds=0,
        baseline_error_rate=0.01,
        out=out_file,
        demo=demo,
    )
    text = out.getvalue()
    assert "run 3/3: NOT MEASURED (excluded)" in text
    assert "1 of 3 runs could not measure" in text
    result = json.loads(out_file.read_text())
    assert (result["runs"], result["measured_runs"], result["excluded_runs"]) == (3, 2, 1)
    assert result["excluded"][0]["run"] == 3
    assert result["phases"]["first_cdn_response"]["median"] == 1.3
    assert met is True


async def test_no_measured_run_means_the_goal_is_not_met() -> None:
    async def demo() -> dict[str, Any]:
        return report(0.043, valid=False)

    met = await run_bench(
        Console(file=io.StringIO()), runs=2, baseline_seconds=0, baseline_error_rate=0.0, demo=demo
    )
    assert met is False


async def test_a_slow_or_missing_restore_misses_the_goal(tmp_path: Path) -> None:
    def restored(seconds: float | None) -> dict[str, Any]:
        return report(1.2, restoring=True, fault_cleared=20.0, time_to_restore=seconds)

    async def run(values: list[float | None]) -> tuple[bool, dict[str, Any]]:
        runs = iter([restored(v) for v in values])

        async def demo() -> dict[str, Any]:
            return next(runs)

        out = tmp_path / "mttr.json"
        met = await run_bench(
            Console(file=io.StringIO()),
            runs=len(values),
            baseline_seconds=0,
            baseline_error_rate=0.0,
            out=out,
            demo=demo,
        )
        return met, json.loads(out.read_text())["restore"]

    met, restore = await run([17.0, 18.0])
    assert met is True and (restore["median"], restore["p95"]) == (17.5, 18.0)
    met, restore = await run([17.0, 18.0, 50.0])
    assert met is False and restore["p95"] == 50.0
    met, restore = await run([17.0, None])
    assert met is False and restore["restored"] == 1
