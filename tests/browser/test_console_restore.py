"""Headless Chromium on a restore: the platform of tests/support/restoreloop (mitigates and
restores, in this process on a manual clock) served on a real socket. The problems list says
MITIGATED and where the restore stands; the problem page's banner does too, and its buttons
work — keep fallback, resume automation, restore now — each read back from what the page
shows and from the stored events; a person's flip on the console's flag page holds the
restore, and the open problem page shows "held until …" without a reload. Writes
docs/img/ui-restore-banner.png for docs/ui.md."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from selfheal.core import pages
from selfheal.integrations.standins import serve
from selfheal.settings import Settings
from tests.browser.test_console_incident import IMG
from tests.conftest import require_tool
from tests.support.browser import CHROMIUM_ARGS
from tests.support.restoreloop import ADMIN, FLAG, PASSWORD, Loop, mitigate, restore_loop

pytestmark = [pytest.mark.slow, pytest.mark.external]
WAIT = 10_000
"""Milliseconds a page may take to show a change (the bound of every `expect`)."""


async def decisions(loop: Loop, context: str) -> list[tuple[str, str]]:
    r = await loop.http.get(
        "/api/v1/events",
        params={"keptnContext": context, "type": "sh.selfheal.restore.decided", "pageSize": 50},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    return [(e["data"]["decision"], e["data"]["by"]) for e in reversed(r.json()["events"])]


def accept(asked: list[str]) -> Callable[[Any], Awaitable[None]]:
    async def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    return answer


async def test_restore_banner_and_its_buttons_in_chromium(settings: Settings) -> None:
    chromium = require_tool("chromium")
    async_api = pytest.importorskip("playwright.async_api")
    expect = async_api.expect
    async with restore_loop(settings) as loop:
        pid = await mitigate(loop)
        restore = await loop.until("verifying")
        rid = str(restore["id"])
        back = f"**{pages.problem(str(restore['problemId']))}"  # the buttons come back by PID
        loop.origin.healthy = False  # the origin still fails: no restore starts by itself
        async with serve(loop.app) as base, async_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1000, "height": 760})
                page = await context.new_page()
                await page.goto(f"{base}/login?next=/problems")
                await page.fill("input[name=username]", "admin")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("form[action='/login'] button[type=submit]")
                await page.wait_for_url("**/problems")

                # the list: MITIGATED (not OPEN), since when, and the restore's state
                row = page.locator("#problem-list tbody tr").first
                status = row.locator("td.status")
                await expect(status.locator(".badge.mitigated")).to_have_text("MITIGATED")
                await expect(status).to_contain_text("since")
                await expect(status.locator(".badge.restore")).to_have_text(
                    "restore verifying the origin"
                )
                await row.locator("a[href^='/problems/']").first.click()
                await page.wait_for_url(f"**{pages.problem(pid)}")

                # the banner: mitigated by the fallback, the restore's state, the buttons
                banner = page.locator("#restore-banner section.restore-banner")
                state = banner.locator(".restore-state")
                await expect(state).to_contain_text(
                    f"Mitigated · served by the fallback ({FLAG}) since"
                )
                await expect(state).to_contain_text("restore verifying the origin")
                await expect(banner.locator("button")).to_have_text(
                    ["Restore now", "Keep fallback"]
                )
                await expect(page.locator("#state .badge.mitigated")).to_be_visible()

                # keep fallback: kept, the comment, and "resume automation" offered
                await banner.locator("button", has_text="Keep fallback").click()
                await page.wait_for_url(back)
                await expect(state).to_contain_text("restore kept on the fallback until resumed")
                await expect(banner.locator("button")).to_have_text(
                    ["Resume automation", "Restore now"]
                )
                await expect(page.locator("#comment-list")).to_contain_text(
                    "admin chose to keep the fallback: no restore until automation is resumed"
                )
                await expect(page.locator("#timeline")).to_contain_text(
                    "admin chose to keep the fallback"
                )
                assert await decisions(loop, rid) == [("keep-fallback", "admin")]
                assert (await loop.restore())["state"] == "kept"

                # resume automation: verifying the origin again
                await banner.locator("button", has_text="Resume automation").click()
                await page.wait_for_url(back)
                await expect(state).to_contain_text("restore verifying the origin")
                assert (await loop.restore())["state"] == "verifying"
                assert await decisions(loop, rid) == [
                    ("keep-fallback", "admin"),
                    ("resume-automation", "admin"),
                ]

                # a person switches the kill switch off on the flag page (another tab);
                # the open problem page shows the hold without a reload
                await expect(page.locator("body")).to_have_attribute("data-live", "on")
                flags = await context.new_page()
                await flags.goto(base + pages.flag("default", FLAG))
                asked: list[str] = []
                flags.once("dialog", accept(asked))
                switch = flags.locator("#switch-production button.switch")
                await switch.click()
                await expect(switch).to_have_text("off", timeout=WAIT)
                assert asked and f"Turn {FLAG} off in production" in asked[0]
                await loop.settle()
                held = await loop.restore()
                assert (
                    held["state"] == "held" and held["heldBy"] == "user:admin"
                )  # the flag's actor
                await expect(state).to_contain_text("restore held until", timeout=WAIT)
                until = state.locator("time").last
                assert (await until.get_attribute("title") or "").endswith("UTC")
                await expect(banner.locator("button").first).to_have_text("Resume automation")
                await expect(page.locator("#comment-list")).to_contain_text(
                    f"admin (console) switched {FLAG} off at", timeout=WAIT
                )
                await expect(page.locator("#comment-list")).to_contain_text(
                    "automation for front-end on hold until"
                )
                await flags.close()
                IMG.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(IMG / "ui-restore-banner.png"))

                # restore now (asks first): stepping, 10 % of users back on the origin
                asked.clear()
                page.once("dialog", accept(asked))
                await banner.locator("button", has_text="Restore now").click()
                await expect(state).to_contain_text(
                    "restore stepping 90 % on the fallback", timeout=WAIT
                )
                assert asked and "Restore now?" in asked[0]
                await expect(banner.locator("button")).to_have_text(["Keep fallback"])
                assert (await loop.restore())["state"] == "stepping"
                assert (await decisions(loop, rid))[-1] == ("restore-now", "admin")
                env = await loop.flag()
                assert env["enabled"] is True
                rollout = [s for s in env["strategies"] if s["name"] == "flexibleRollout"]  # type: ignore[attr-defined]
                assert rollout and rollout[0]["parameters"]["rollout"] == "90"

                # the problems list follows
                await page.goto(base + "/problems")
                await expect(page.locator("#problem-list td.status .badge.restore")).to_have_text(
                    "restore stepping 90 % on the fallback"
                )
            finally:
                await browser.close()
