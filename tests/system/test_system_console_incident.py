"""The console during and after a real incident (the seed loop, in one process):

- flipping the kill switch a remediation of an open problem set asks with the flag-specific
  consequence ("front-end will serve the app again while P-1 is open"), on the flag list and
  the flag page; once the problem is resolved, or after a person flipped it, the words are
  generic again;
- a problem that reopens keeps each occurrence in its chart and timeline: opened and resolved
  markers for both, a window that starts before the first.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from selfheal.core import pages
from tests.system.loop import Loop, loop_settings, running
from tests.system.test_system_console_links import login
from tests.system.test_system_seed_loop import heal, open_problem
from tests.system.website import FLAG

CONFIRM = re.compile(r'data-confirm="([^"]*)"')
SWITCHES = "/api/admin/projects/default/features/" + FLAG + "/environments/{env}/{state}"


def confirmations(page: str, start: str) -> list[str]:
    """The confirmation texts on a page that begin with `start`."""
    return [t for t in map(html.unescape, CONFIRM.findall(page)) if t.startswith(start)]


async def flip(loop: Loop, env: str, state: str) -> None:
    r = await loop.http.post(SWITCHES.format(env=env, state=state), headers=loop.admin)
    assert r.status_code == 200, r.text


async def test_flipping_a_remediated_kill_switch_says_what_it_undoes(tmp_path: Path) -> None:
    async with running(loop_settings(tmp_path)) as loop:
        await loop.setup()
        problem = await open_problem(loop)
        assert await loop.flag_on()  # the remediation switched it on, the problem is open
        await login(loop.http)
        flag_page = pages.flag("default", FLAG)
        name = problem["displayId"]

        for path in ("/flags", flag_page):
            text = (await loop.http.get(path)).text
            [prod] = confirmations(text, f"Turn {FLAG} off in production?")
            assert f"front-end will serve the app again while {name} is open" in prod, prod
            assert f"for {name} (Failure rate increase)" in prod
            assert "poll interval" in prod
            [dev] = confirmations(text, f"Turn {FLAG} on in development?")
            assert "while" not in dev and "remediation" not in dev, dev  # generic
            assert f'href="{pages.problem(problem["problemId"])}"' in text  # which problem

        # once resolved: generic (a remediation set it, but no open problem needs it)
        await heal(loop, problem["problemId"])
        text = (await loop.http.get(flag_page)).text
        [prod] = confirmations(text, f"Turn {FLAG} off in production?")
        assert "is open" not in prod and "turned on by a remediation" in prod, prod

        # a person's flip: nothing about remediations at all
        await flip(loop, "production", "off")
        await flip(loop, "production", "on")
        text = (await loop.http.get(flag_page)).text
        [prod] = confirmations(text, f"Turn {FLAG} off in production?")
        assert "remediation" not in prod, prod


async def reopen(loop: Loop, problem_id: str) -> None:
    """Switch the remediation back off and fail again within the reopen window."""
    await flip(loop, "production", "off")
    loop.website.fault = True

    async def reopened() -> bool:
        body = await loop.get(f"/api/v2/problems/{problem_id}")
        return bool(body["status"] == "OPEN")

    await loop.run_until("the reopen", reopened, limit=30)


def markers(page: str, kind: str) -> list[tuple[float, str]]:
    """(x, label) of the chart's markers of one kind."""
    found = re.findall(
        rf'class="marker marker-{kind}" x1="([\d.]+)"[^>]*><title>([^<]*)</title>', page
    )
    return [(float(x), html.unescape(t).split(" · ")[0]) for x, t in found]


PLOT = (44.0, 760.0 - 12.0)  # the plot area's x range in the chart (charts.failure_rate_svg)


async def test_a_reopened_problem_keeps_each_occurrence_in_view(tmp_path: Path) -> None:
    async with running(loop_settings(tmp_path)) as loop:
        await loop.setup()
        problem = await open_problem(loop)
        pid = problem["problemId"]
        await heal(loop, pid)
        await reopen(loop, pid)
        await heal(loop, pid)
        for _ in range(10):
            await loop.second()
        body = await loop.get(f"/api/v2/problems/{pid}")
        assert body["status"] != "OPEN"
        name = body["displayId"]

        await login(loop.http)
        r = await loop.http.get(pages.problem(pid))
        assert r.status_code == 200
        page = r.text
        opened, resolved = markers(page, "open"), markers(page, "resolve")
        assert [label for _, label in opened] == [f"{name} opened", f"{name} reopened (2nd time)"]
        assert [label for _, label in resolved] == [
            f"{name} resolved (1st time)",
            f"{name} resolved (2nd time)",
        ]
        # each incident inside the window (a marker outside it would sit on the edge)
        for x, label in opened + resolved:
            assert PLOT[0] < x < PLOT[1], (label, x)
        assert opened[0][0] < resolved[0][0] < opened[1][0] < resolved[1][0]
        flags = markers(page, "flag")  # the flag flipped for each occurrence (and by hand)
        assert sum(opened[0][0] <= x <= resolved[0][0] for x, _ in flags) >= 1
        assert sum(opened[1][0] <= x <= resolved[1][0] for x, _ in flags) >= 1
        timeline = re.sub(r"<[^>]+>", " ", page.split('id="timeline"', 1)[1].split("</ol>")[0])
        assert f"{name} reopened (2nd time)" in timeline
        assert f"{name} resolved (1st time)" in timeline

        points = re.search(r'<polyline [^>]*points="([^"]+)"', page)
        assert points is not None and len(points.group(1).split()) > 20
