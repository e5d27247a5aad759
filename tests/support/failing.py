"""A store double that fails the way a bug does (an exception nobody expected), so tests can
force a 500 on a real page in process — no patching of our code."""

from __future__ import annotations

from typing import Any

from selfheal.delivery import DeliveryQuery, DeliveryStore


class FailingDeliveries:
    """Wraps a `DeliveryStore`; `find` (what the deliveries pages read) raises a
    `RuntimeError` carrying `secret`, everything else goes to the wrapped store."""

    def __init__(self, inner: DeliveryStore, secret: str) -> None:
        self.inner = inner
        self.secret = secret
        self.calls = 0

    async def find(self, query: DeliveryQuery) -> list[Any]:
        self.calls += 1
        raise RuntimeError(f"simulated bug reading deliveries ({self.secret})")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
