"""Keptn's sli.yaml: named queries an SLI provider runs (`indicators: {name: query}`).

selfheal's built-in monitor answers `failure_rate`, `response_time_p95`, `throughput` and
`problem_open` without a file; an sli.yaml adds or overrides queries (PromQL for the Prometheus
provider). The queries are opaque here: each provider validates its own language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from selfheal.core.documents import parse_document


@dataclass(frozen=True, slots=True)
class Sli:
    indicators: Mapping[str, str]
    spec_version: str = "1.0"

    def query(self, name: str) -> str | None:
        return self.indicators.get(name)


def load_sli(text: str) -> Sli:
    root = parse_document(text)
    root.only(("spec_version", "indicators"))
    spec_version = root.require("spec_version").text()
    indicators = {
        name: query.string() for name, query in root.require("indicators").mapping().items()
    }
    return Sli(indicators=MappingProxyType(indicators), spec_version=spec_version)


__all__ = ["Sli", "load_sli"]
