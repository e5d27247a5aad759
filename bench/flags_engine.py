"""Flag evaluation engine throughput: evaluations per second on a 350-flag payload.

    .venv/bin/python bench/flags_engine.py [--flags 350] [--contexts 200] [--seconds 1.0]

Builds the generated payload (every strategy, operator, segments, variants, dependencies; see
tests/unit/flags_engine/payloads.py), then times `is_enabled`, `get_variant`, `evaluate` and
`evaluate_all` over every flag for a rotating set of contexts, `toggles` (the frontend API's
body) over the enabled flags, and the same calls on Yggdrasil (Unleash's Rust engine, shipped
with the Python SDK) for comparison. Last, the frontend API's work per request on the flags and
context that `bench/flags/run.py` serves over HTTP. Bounded: each row runs for about
--seconds, single-threaded.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfheal.flags.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.unit.flags_engine.payloads import contexts, payload  # noqa: E402


def rate(
    run: Callable[[dict[str, Any]], int], items: list[dict[str, Any]], seconds: float
) -> float:
    """Evaluations per second: `run(context)` returns how many it did."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    index = 0
    while True:
        done += run(items[index % len(items)])
        index += 1
        if index % 4 == 0 and time.perf_counter() >= deadline:
            break
    return done / (time.perf_counter() - start)


def http_bench_payload(count: int) -> dict[str, Any]:
    """The flags `bench/flags/run.py` seeds: a constrained flexibleRollout each, half on."""
    features = []
    for index in range(count):
        name = f"bench.{count}.flag.{index:03d}"
        strategy = {
            "name": "flexibleRollout",
            "parameters": {
                "rollout": str(10 + index % 90),
                "stickiness": "default",
                "groupId": name,
            },
            "constraints": [
                {"contextName": "appName", "operator": "IN", "values": ["web", "api"]},
                {"contextName": "userId", "operator": "STR_STARTS_WITH", "values": ["u"]},
            ],
        }
        features.append(
            {"name": name, "enabled": index % 2 == 0, "strategies": [strategy], "variants": []}
        )
    return {"version": 2, "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=350)
    parser.add_argument("--contexts", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    state = payload(args.flags, seed=1)
    items = contexts(args.contexts, seed=2)
    names = [feature["name"] for feature in state["features"]]

    start = time.perf_counter()
    engine = Engine(state)
    compile_ms = (time.perf_counter() - start) * 1000

    def is_enabled(context: dict[str, Any]) -> int:
        for name in names:
            engine.is_enabled(name, context)
        return len(names)

    def get_variant(context: dict[str, Any]) -> int:
        for name in names:
            engine.get_variant(name, context)
        return len(names)

    def evaluate(context: dict[str, Any]) -> int:
        for name in names:
            engine.evaluate(name, context)
        return len(names)

    def evaluate_all(context: dict[str, Any]) -> int:
        return len(engine.evaluate_all(context))

    enabled = [feature["name"] for feature in state["features"] if feature["enabled"]]

    def toggles(context: dict[str, Any]) -> int:
        engine.toggles(context, enabled)
        return len(enabled)

    rows = [
        ("selfheal is_enabled", rate(is_enabled, items, args.seconds)),
        ("selfheal get_variant", rate(get_variant, items, args.seconds)),
        ("selfheal evaluate", rate(evaluate, items, args.seconds)),
        ("selfheal evaluate_all", rate(evaluate_all, items, args.seconds)),
        ("selfheal toggles (enabled flags)", rate(toggles, items, args.seconds)),
    ]
    try:
        from yggdrasil_engine.engine import UnleashEngine
    except ImportError:
        UnleashEngine = None
    if UnleashEngine is not None:
        reference = UnleashEngine()
        reference.take_state(json.dumps(state))

        def ygg_enabled(context: dict[str, Any]) -> int:
            for name in names:
                reference.check_enabled(name, context)
            return len(names)

        def ygg_variant(context: dict[str, Any]) -> int:
            for name in names:
                reference.check_variant(name, context)
            return len(names)

        rows.append(("yggdrasil check_enabled", rate(ygg_enabled, items, args.seconds)))
        rows.append(("yggdrasil check_variant", rate(ygg_variant, items, args.seconds)))

    print(f"flag evaluation engine — {args.flags} flags, {args.contexts} contexts")
    print(f"python {platform.python_version()} on {platform.machine()}, single thread")
    print(f"compile: {compile_ms:.1f} ms")
    width = max(len(label) for label, _ in rows)
    for label, per_second in rows:
        print(f"{label:<{width}}  {per_second:>12,.0f} evaluations/s  {1e6 / per_second:6.2f} µs")

    served = http_bench_payload(args.flags)
    frontend = Engine(served)
    on = [feature["name"] for feature in served["features"] if feature["enabled"]]
    request = {"userId": "u123", "appName": "web"}

    def body(_context: dict[str, Any]) -> int:
        # What the fast path adds to the request's context, then the body it renders.
        context = {**request, "properties": {}, "remoteAddress": "127.0.0.1"}
        context["environment"] = "production"
        frontend.toggles(context, on).encode()
        return 1

    per_request = rate(body, [request], args.seconds)
    print(
        f"frontend body, bench/flags/run.py's {args.flags} flags ({len(on)} on):"
        f"  {per_request:,.0f} requests/s  {1e6 / per_request:.1f} µs per request"
    )


if __name__ == "__main__":
    main()
