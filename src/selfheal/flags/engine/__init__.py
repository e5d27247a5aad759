"""The flag evaluation engine: Unleash client API payloads evaluated in pure Python.

Passes the Unleash client specification (vendored under ``tests/spec``). The HTTP layer
builds an `Engine` from the payload it serves to SDKs and evaluates with it for the frontend
API and OFREP; nothing here does I/O.
"""

from __future__ import annotations

from selfheal.flags.engine.constraints import OPERATORS
from selfheal.flags.engine.delta import apply_delta
from selfheal.flags.engine.engine import Engine, Evaluation
from selfheal.flags.engine.strategies import BUILTIN_STRATEGIES

__all__ = ["BUILTIN_STRATEGIES", "OPERATORS", "Engine", "Evaluation", "apply_delta"]
