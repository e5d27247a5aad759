"""Run the fault-injection suite (tests/faults) and print what each scenario measured.

    .venv/bin/python bench/faults.py [--nats-down 60] [-k EXPR] [--report faults.json]

Each scenario appends its outcome (problems sent, remediated, duplicated, stuck sequences,
seconds from the end of the fault until every problem was remediated, notes) to one JSON
file (`SELFHEAL_FAULTS_REPORT`); this prints it as the Markdown table of docs/benchmarks.md.
A scenario that failed is still a row: its notes say why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| fault | problems sent | remediated | duplicated | stuck | recovery | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        recovery = "–" if r["recovery_seconds"] is None else f"{r['recovery_seconds']:.1f} s"
        notes = "; ".join(r["notes"])[:200].replace("|", "/") or "ok"
        lines.append(
            f"| {r['scenario']} | {r['problems_sent']} | {r['remediated']} | {r['duplicated']} "
            f"| {r['stuck']} | {recovery} | {notes} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats-down", type=float, default=60.0, help="seconds NATS stays down")
    parser.add_argument("-k", default=None, help="pytest -k expression (a subset of scenarios)")
    parser.add_argument("--report", default=None, help="keep the JSON here (default: a temp file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(args.report or Path(tmp) / "faults.json")
        report.unlink(missing_ok=True)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"]
        if args.k:
            command += ["-k", args.k]
        env = {
            **os.environ,
            "SELFHEAL_FAULTS_REPORT": str(report),
            "SELFHEAL_FAULTS_NATS_DOWN": str(args.nats_down),
        }
        code = subprocess.run(command, env=env, check=False).returncode
        rows = json.loads(report.read_text()) if report.exists() else []
        print(table(rows))
        sys.exit(code)


if __name__ == "__main__":
    main()
