"""SSE resume: `Last-Event-ID` replays only what changed since, while it is remembered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from selfheal.bootstrap import Container
from selfheal.flags.snapshot import Scope
from selfheal.flags.streaming import KEEPALIVE, StreamHub

from .conftest import CLIENT

P = "/api/admin/projects/default/features"
SCOPE = Scope(("default",), "production")


def parse(frame: bytes) -> tuple[str, int, dict[str, Any]]:
    fields = dict(line.split(": ", 1) for line in frame.decode().strip().splitlines())
    return fields["event"], int(fields["id"]), json.loads(fields["data"])


async def flags(container: Container, *names: str) -> int:
    service = container.flags.service
    for name in names:
        await service.create_flag(name, actor="test")
    return service.snapshot.revision


async def test_resume_replays_only_the_changes_since_the_last_id(container: Container) -> None:
    service, hub = container.flags.service, container.flags.hub
    seen = await flags(container, "alpha", "beta", "gamma")
    await service.set_enabled("beta", "production", True, actor="test")
    await service.archive("gamma", actor="test")

    event, rev, data = parse(hub.first_frame(service.snapshot, SCOPE, str(seen)))
    assert (event, rev) == ("unleash-updated", service.snapshot.revision)
    changes = [
        (e["type"], e.get("feature", {}).get("name") or e.get("featureName"))
        for e in data["events"]
    ]
    assert changes == [("feature-updated", "beta"), ("feature-removed", "gamma")]


async def test_resume_at_the_current_revision_sends_nothing(container: Container) -> None:
    current = await flags(container, "alpha")
    snapshot = container.flags.service.snapshot
    assert container.flags.hub.first_frame(snapshot, SCOPE, str(current)) == b""
    stream = container.flags.hub.stream(snapshot, SCOPE, str(current))
    assert await anext(stream) == KEEPALIVE
    await stream.aclose()


async def test_unknown_stale_future_or_bad_ids_are_hydrated(container: Container) -> None:
    await flags(container, "alpha")
    snapshot = container.flags.service.snapshot
    hub = StreamHub(history=2)  # remembers nothing from before it existed
    for last in (None, "0", str(snapshot.revision + 5), "nope", ""):
        event, rev, data = parse(hub.first_frame(snapshot, SCOPE, last))
        assert (event, rev) == ("unleash-connected", snapshot.revision)
        assert data["events"][0]["type"] == "hydration"


async def test_history_is_bounded(container: Container) -> None:
    service = container.flags.service
    hub = StreamHub(history=2)
    service.on_snapshot(hub.publish)
    first = await flags(container, "alpha")
    for name in ("b1", "b2", "b3"):
        await flags(container, name)
    event, _, _ = parse(hub.first_frame(service.snapshot, SCOPE, str(first)))
    assert event == "unleash-connected"  # fell out of the history: full state again
    event, _, data = parse(hub.first_frame(service.snapshot, SCOPE, str(first + 2)))
    assert event == "unleash-updated"
    assert [e["feature"]["name"] for e in data["events"]] == ["b3"]


async def test_last_event_id_header_reaches_the_hub(
    http: httpx.AsyncClient, container: Container
) -> None:
    seen = await flags(container, "alpha")
    await container.flags.service.set_enabled("alpha", "production", True, actor="test")
    headers = {"Authorization": CLIENT, "Last-Event-ID": str(seen)}
    hub = container.flags.hub
    request = asyncio.create_task(http.get("/api/client/streaming", headers=headers))
    for _ in range(500):
        if hub.connected:
            break
        await asyncio.sleep(0.01)
    hub.close()  # ends the stream, so the in-process transport hands over the body
    r = await asyncio.wait_for(request, 10)
    assert r.status_code == 200
    event, rev, data = parse(r.content.split(b"\n\n")[0])
    assert event == "unleash-updated"
    assert rev == container.flags.service.snapshot.revision
    assert [e["feature"]["enabled"] for e in data["events"]] == [True]
