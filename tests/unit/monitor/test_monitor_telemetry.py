from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.monitor.conftest import ADMIN, MONITOR_YAML, System


def samples(text: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("selfheal_monitor_"):
            for s in family.samples:
                out[(s.name, s.labels.get("service", ""))] = s.value
    return out


async def test_monitor_metrics_follow_what_it_sees(system: System) -> None:
    http = system.http
    assert (
        await http.post("/api/v1/monitor/services", content=MONITOR_YAML, headers=ADMIN)
    ).is_success
    await system.run(60, 20, 0)
    healthy = samples((await http.get("/metrics")).text)
    assert healthy[("selfheal_monitor_service_up", "front-end")] == 1.0
    assert healthy[("selfheal_monitor_problem_open", "front-end")] == 0.0
    assert healthy[("selfheal_monitor_failure_ratio", "front-end")] == 0.0
    assert abs(healthy[("selfheal_monitor_request_rate", "front-end")] - 20.0) < 1e-6
    assert healthy[("selfheal_monitor_scrapes_total", "front-end")] >= 60

    await system.run(5, 20, 10)
    failing = samples((await http.get("/metrics")).text)
    assert failing[("selfheal_monitor_problem_open", "front-end")] == 1.0
    assert failing[("selfheal_monitor_failure_ratio", "front-end")] > 0.0
