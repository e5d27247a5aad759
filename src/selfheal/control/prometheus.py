"""The Prometheus SLI provider: runs the PromQL of sli.yaml against a Prometheus server.

Placeholders as in Keptn's prometheus-service: `$PROJECT`, `$STAGE`, `$SERVICE`,
`$DURATION_SECONDS` (the evaluation timeframe, e.g. `600s`).
"""

from __future__ import annotations

import math

import httpx

from selfheal.control.evaluation import SliScope
from selfheal.core import Unavailable


class PrometheusSliProvider:
    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url.rstrip("/")
        self._transport = transport

    def render(self, query: str, scope: SliScope, start: float, end: float) -> str:
        duration = f"{max(1, round(end - start))}s"
        return (
            query.replace("$PROJECT", scope.project)
            .replace("$STAGE", scope.stage)
            .replace("$SERVICE", scope.service)
            .replace("$DURATION_SECONDS", duration)
        )

    async def get_sli(self, name: str, scope: SliScope, start: float, end: float) -> float | None:
        query = scope.queries.get(name)
        if not query:
            return None
        params = {"query": self.render(query, scope, start, end), "time": f"{end:.3f}"}
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as client:
                response = await client.get(f"{self._url}/api/v1/query", params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"Prometheus at {self._url} unreachable: {exc.__class__.__name__}"
            ) from exc
        if response.status_code != 200:
            raise Unavailable(f"Prometheus answered {response.status_code} for SLI {name}")
        body = response.json()
        result = body.get("data", {}).get("result", [])
        if not result:
            return None
        first = result[0]
        raw = first.get("value", [None, None])[1] if isinstance(first, dict) else None
        try:
            value = float(str(raw))
        except (TypeError, ValueError):
            return None
        return None if math.isnan(value) else value
