"""Every link the product emits resolves: a crawl of the whole UI after a real incident (the
seed loop with Jira and Slack at stand-ins), following every link from every page, and every
link in the Slack messages and Jira tickets it sent. Plus the cross-links a responder uses:
problem → sequence → flag change → back to the sequence and the problem."""

from __future__ import annotations

import json
import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from selfheal.core import pages
from tests.system.loop import Loop, loop_settings, running
from tests.system.standins import standins
from tests.system.test_system_integrations import remediate
from tests.system.website import FLAG

START = ["/", "/problems", "/bridge", "/flags", "/deliveries", "/flags/tokens", "/flags/segments"]
MAX_PAGES = 400
URL = re.compile(r"https?://[^\s\"'<>|)\\\]]+")


class Links(HTMLParser):
    """The `href`s of a page and the `action`s of its GET forms."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.found.append(str(a["href"]))
        if tag == "form" and (a.get("method") or "get").lower() == "get" and a.get("action"):
            self.found.append(str(a["action"]))


def links_of(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.found


async def login(http: httpx.AsyncClient) -> None:
    r = await http.post("/login", data={"username": "admin", "password": "test-password"})
    assert r.status_code == 303, r.text


async def crawl(http: httpx.AsyncClient) -> dict[str, list[str]]:
    """Every same-site page reachable from START: {path: links on it}; fails on any 4xx/5xx."""
    seen: dict[str, list[str]] = {}
    broken: list[tuple[str, str, int]] = []
    queue = deque((p, "start") for p in START)
    while queue and len(seen) < MAX_PAGES:
        path, referrer = queue.popleft()
        if path in seen:
            continue
        r = await http.get(path)
        if r.status_code in (301, 302, 303, 307, 308):
            target = urljoin(path, r.headers["location"])
            assert not target.startswith("/login"), f"{path} (from {referrer}) asks to log in"
            seen[path] = [target]
            queue.append((target, path))
            continue
        if r.status_code >= 400:
            broken.append((path, referrer, r.status_code))
            seen[path] = []
            continue
        found = links_of(r.text) if "text/html" in r.headers.get("content-type", "") else []
        seen[path] = found
        for href in found:
            parts = urlsplit(urljoin("http://selfheal" + path, href))
            if parts.netloc != "selfheal":
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in seen:
                queue.append((target, path))
    assert not broken, broken
    assert len(seen) < MAX_PAGES, "the crawl did not end"
    return seen


async def test_every_link_resolves_after_an_incident(tmp_path: Path) -> None:
    async with standins() as s, running(loop_settings(tmp_path, s.settings(tmp_path))) as loop:
        problem, seq, _ = await remediate(loop)
        context = seq["shkeptncontext"]
        http = loop.http
        await login(http)
        seen = await crawl(http)

        # the pages of the incident were reached, and they link to each other
        problem_page = pages.problem(problem["problemId"])
        sequence_page = pages.sequence(context)
        flag_page = pages.flag("default", FLAG)
        assert {problem_page, sequence_page, flag_page} <= set(seen), sorted(seen)
        assert sequence_page in seen[problem_page]
        assert pages.flag_history("default", FLAG) in seen[problem_page]
        assert pages.flag_history("default", FLAG) in seen[sequence_page]
        assert any(link.startswith("/problems/") for link in seen[sequence_page])
        assert sequence_page in seen[flag_page]  # the flag change names its sequence
        assert pages.deliveries(context=context) in seen[sequence_page]
        deliveries = seen[pages.deliveries()]
        assert sequence_page in deliveries

        # every link in what Slack and Jira received resolves too
        await check_messages(loop, json.dumps(s.slack.messages) + json.dumps(s.jira.issues))


async def check_messages(loop: Loop, text: str) -> None:
    base = loop.container.integrations.ui_url
    emitted = {u.rstrip(".,") for u in URL.findall(text) if u.startswith(base)}
    assert any("/bridge/sequence/" in u for u in emitted), emitted
    assert any("/problems/" in u for u in emitted), emitted
    for url in sorted(emitted):
        parts = urlsplit(url)
        r = await loop.http.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        assert r.status_code == 200, (url, r.status_code)
