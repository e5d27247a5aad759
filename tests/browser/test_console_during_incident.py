"""Headless Chromium on the console *during* an incident: the seed loop (the whole system in
this process, on a manual clock) is stopped while the problem is open and the remediation's
kill switch is on, and its app is served on a real socket. The problem page says so in words
and charts it; the flag's switch asks with the consequence of flipping it back while the
problem is open; when the problem then resolves, the open page shows it without a reload.
Writes docs/img/ui-problem-during.png for docs/ui.md."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from selfheal.core import pages
from selfheal.integrations.standins import serve
from tests.browser.test_console_incident import IMG
from tests.conftest import require_tool
from tests.support.browser import CHROMIUM_ARGS
from tests.system.loop import loop_settings, running
from tests.system.test_system_seed_loop import heal, open_problem
from tests.system.website import FLAG

pytestmark = [pytest.mark.slow, pytest.mark.external]


async def test_the_problem_page_during_an_incident_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    async_api = pytest.importorskip("playwright.async_api")
    async with running(loop_settings(tmp_path)) as loop:
        await loop.setup()
        problem = await open_problem(loop)  # open, and the remediation switched the flag on
        assert await loop.flag_on()
        for _ in range(3):  # the CDN serves, healthy for less than the hold time: still open
            await loop.second()
        pid, name = problem["problemId"], problem["displayId"]
        async with serve(loop.app) as base, async_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1000, "height": 760})
                await page.goto(f"{base}/login?next={pages.problem(pid)}")
                await page.fill("input[name=username]", "admin")
                await page.fill("input[name=password]", "test-password")
                await page.click("form[action='/login'] button[type=submit]")
                await page.wait_for_url(f"**{pages.problem(pid)}")

                state = page.locator("#state")
                words = await state.inner_text()
                assert f"{name} Failure rate increase on front-end is open since" in words, words
                assert f"flag {FLAG} turned on (was off) in production by remediation" in words
                assert await state.get_attribute("class") == "state state-open"
                assert await page.locator("svg.chart line.threshold").count() == 1
                assert await page.locator("svg.chart line.marker-open").count() == 1
                assert await page.locator("svg.chart line.marker-flag").count() >= 1
                assert await page.locator("svg.chart line.marker-resolve").count() == 0
                IMG.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(IMG / "ui-problem-during.png"))

                # the switch asks first, and says what flipping it back does right now
                await page.goto(base + pages.flag("default", FLAG))
                asked: list[str] = []

                async def dismiss(dialog: Any) -> None:
                    asked.append(dialog.message)
                    await dialog.dismiss()

                page.once("dialog", dismiss)
                switch = page.locator("#switch-production button.switch")
                await switch.click()
                for _ in range(50):  # the dialog handler runs on the page's event
                    if asked:
                        break
                    await asyncio.sleep(0.1)
                assert asked, "no confirmation"
                assert f"front-end will serve the app again while {name} is open" in asked[0]
                assert await switch.inner_text() == "on"  # dismissed: nothing changed
                assert await loop.flag_on()

                # the problem resolves while its page is open: it shows without a reload
                await page.goto(base + pages.problem(pid))
                expect = async_api.expect
                await expect(page.locator("body")).to_have_attribute("data-live", "on")
                await heal(loop, pid)
                await expect(state).to_contain_text(f"{name} Failure rate increase", timeout=10_000)
                await expect(state).to_contain_text("was resolved at", timeout=10_000)
            finally:
                await browser.close()
