"""Every console page that lists problems says which are mitigated (since when) and where
their restore stands: the problems list and its services table, the problem page, the
bridge's sequence lists, a project's services and a sequence's page (app in process)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from selfheal.core import pages
from selfheal.settings import Settings
from tests.support.restoreloop import ADMIN, FLAG, PASSWORD, Loop, mitigate, restore_loop


@pytest.fixture
async def loop(settings: Settings) -> AsyncIterator[Loop]:
    async with restore_loop(settings) as running:
        r = await running.http.post(
            "/login", data={"username": "admin", "password": PASSWORD, "next": "/problems"}
        )
        assert r.status_code == 303, r.text
        yield running


def statuses(html: str) -> list[str]:
    return re.findall(r'data-status="([A-Z]+)"', html)


def restores(html: str) -> list[str]:
    """The restore badges' texts ("restore verifying the origin", …), tags stripped."""
    found = re.findall(r'<span class="badge restore [^"]*"[^>]*>(.*?)</span>', html, re.S)
    return [re.sub(r"<[^>]+>", "", f).strip() for f in found]


async def page(http: httpx.AsyncClient, path: str) -> str:
    r = await http.get(path)
    assert r.status_code == 200, (path, r.text[:500])
    return r.text


async def test_problem_lists_show_open_then_mitigated_with_the_restore(loop: Loop) -> None:
    http = loop.http
    for _ in range(60):  # the fault, until the problem opens; the kill switch goes on
        await loop.second(100, 50)
        if await loop.container.monitor.service.list_problems(status="OPEN") != ([], 0):
            break
    listing = await page(http, "/problems")
    assert statuses(listing) == ["OPEN", "OPEN"]  # the list and the service's open problem
    assert restores(listing) == ["restore armed, waiting for mitigation"] * 2

    pid = await mitigate(loop)
    problem = await loop.container.monitor.service.get_problem(pid)
    since = problem.mitigated_since
    assert since is not None
    restore = await loop.until("verifying")
    loop.origin.healthy = False  # the origin still fails its probes: verifying it stays

    listing = await page(http, "/problems")
    assert statuses(listing) == ["MITIGATED", "MITIGATED"]
    assert "OPEN</span>" not in listing
    stamp = re.search(r'class="since">since <time datetime="([^"]+)"', listing)
    assert stamp is not None
    assert stamp.group(1) == _iso(since)
    assert restores(listing) == ["restore verifying the origin"] * 2
    assert statuses(await page(http, "/problems?status=MITIGATED")) == ["MITIGATED"] * 2
    assert statuses(await page(http, "/problems?status=RESOLVED")) == ["MITIGATED"]  # services

    incident = await page(http, pages.problem(pid))
    assert 'class="state state-mitigated"' in incident
    assert statuses(incident) == ["MITIGATED"]
    assert "restore verifying the origin" in incident

    bridge = await page(http, "/bridge")
    assert statuses(bridge).count("MITIGATED") == 2  # open and recent: the same remediation
    assert restores(bridge).count("restore verifying the origin") == 2
    project = await page(http, "/bridge/project/website?service=front-end")
    assert "1 open remediation(s)" in project and statuses(project) == ["MITIGATED"] * 2
    sequence = await page(http, pages.sequence(str(restore["id"])))
    assert statuses(sequence) == ["MITIGATED"]

    # a person keeps the fallback, then flips the switch herself: kept, then held until …
    r = await http.post(f"/api/v1/restores/{restore['id']}/keep-fallback", headers=ADMIN, json={})
    assert r.status_code == 200, r.text
    assert (
        restores(await page(http, "/problems"))[0] == "restore kept on the fallback until resumed"
    )
    r = await http.post(f"/api/v1/restores/{restore['id']}/resume", headers=ADMIN, json={})
    assert r.status_code == 200, r.text
    r = await http.post(
        f"/api/admin/projects/default/features/{FLAG}/environments/production/off",
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    await loop.settle()
    held = await loop.restore()
    assert held["state"] == "held" and isinstance(held["holdUntil"], float)
    listing = await page(http, "/problems")
    (words,) = set(restores(listing))
    assert words.startswith("restore held until ") and words.endswith(" UTC")
    assert f'datetime="{_iso(held["holdUntil"])}"' in listing

    # restore now: stepping, with the share still on the fallback
    r = await http.post(f"/api/v1/restores/{restore['id']}/restore-now", headers=ADMIN, json={})
    assert r.status_code == 200, r.text
    assert "restore stepping 90 % on the fallback" in restores(await page(http, "/problems"))

    # restored: RESOLVED everywhere, the restore said so, no more MITIGATED
    await loop.until("restored")
    listing = await page(http, "/problems")
    assert statuses(listing) == ["RESOLVED"] and restores(listing) == [
        "restore complete: all users back on the origin"
    ]
    incident = await page(http, pages.problem(pid))
    assert 'class="state state-resolved"' in incident and statuses(incident) == ["RESOLVED"]
    assert 'data-state="' not in incident  # no banner once restored
    assert statuses(await page(http, "/bridge")).count("RESOLVED") >= 1


def _iso(epoch: object) -> str:
    assert isinstance(epoch, float)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
