"""`selfheal restore …` against a running server: the platform of tests/support/restoreloop
served on a socket, the CLI run in a thread as a person would in a terminal — list and show
a restore, then every decision (reject, resume, approve, keep the fallback, restore now),
each read back from the server; an unknown id and a decision out of turn fail naming it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from selfheal.cli import app
from selfheal.integrations.standins import serve
from selfheal.settings import Settings
from tests.support.restoreloop import ADMIN, REMEDIATION, Loop, mitigate, restore_loop

APPROVAL = REMEDIATION.replace(
    "maxFailureRate: 0.1\n", "maxFailureRate: 0.1\n        approval: true\n"
)


@pytest.fixture
async def loop(settings: Settings) -> AsyncIterator[Loop]:
    async with restore_loop(settings, APPROVAL) as running:
        yield running


class Terminal:
    """Runs `selfheal …` in a thread (the server answers on this event loop)."""

    def __init__(self, base: str, home: Path) -> None:
        self.env = {
            "SELFHEAL_URL": base,
            "SELFHEAL_TOKEN": ADMIN["Authorization"],
            "XDG_CONFIG_HOME": str(home),
        }

    async def run(self, *args: str, group: str = "restore") -> Result:
        runner = CliRunner()
        return await asyncio.to_thread(runner.invoke, app, [group, *args], env=self.env)

    async def ok(self, *args: str) -> str:
        result = await self.run(*args)
        assert result.exit_code == 0, result.output
        return result.output

    async def json(self, *args: str) -> Any:
        return json.loads(await self.ok(*args, "--json"))


async def events(loop: Loop, context: str, type_: str) -> list[dict[str, Any]]:
    r = await loop.http.get(
        "/api/v1/events",
        params={"keptnContext": context, "type": type_, "pageSize": 100},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["events"]))


async def test_restore_cli_lists_shows_and_decides(loop: Loop, tmp_path: Path) -> None:
    pid = await mitigate(loop)
    restore = await loop.until("approval")
    rid = str(restore["id"])
    async with serve(loop.app) as base:
        term = Terminal(base, tmp_path)

        problems = await term.run("list", group="problems")
        assert problems.exit_code == 0 and " MITIGATED " in problems.output, problems.output
        listed = await term.ok("list")
        assert rid in listed and "awaiting approval" in listed and "EnableStaticContent" in listed
        assert f"problem {pid.split('_')[0]}" in listed
        assert [r["id"] for r in (await term.json("list", "--active"))["restores"]] == [rid]
        assert (await term.json("list", "--problem", "no-such-problem"))["restores"] == []
        assert "no restores" in await term.ok("list", "--problem", "no-such-problem")
        shown = await term.ok("show", rid)
        assert shown.startswith(f"restore {rid}: awaiting approval")
        assert "90 % → 50 % → 0 %" in shown and "100 % of users on the fallback" in shown
        assert (await term.json("show", rid))["state"] == "approval"

        # reject: the fallback stays; resume: verifying again, then approval again
        assert "kept on the fallback until resumed" in await term.ok("reject", rid)
        assert (await loop.restore())["state"] == "kept"
        assert "verifying the origin" in await term.ok("resume", rid)
        await loop.until("approval")
        stepping = await term.json("approve", rid)
        assert stepping["state"] == "stepping" and stepping["fallbackPercent"] == 90
        assert "kept on the fallback" in await term.ok("keep-fallback", rid)
        assert "stepping 90 % on the fallback" in await term.ok("now", rid)
        decided = await events(loop, rid, "sh.selfheal.restore.decided")
        assert [e["data"]["decision"] for e in decided] == [
            "rejected",
            "resume-automation",
            "approved",
            "keep-fallback",
            "restore-now",
        ]

        # errors name what is wrong and exit non-zero
        unknown = await term.run("show", "no-such-restore")
        assert unknown.exit_code == 1 and "no restore 'no-such-restore'" in unknown.output
        unknown = await term.run("now", "no-such-restore")
        assert unknown.exit_code == 1 and "404" in unknown.output
        assert "no-such-restore" in unknown.output
        out_of_turn = await term.run("approve", rid)
        assert out_of_turn.exit_code == 1
        assert f"restore {rid} is not waiting for an approval" in out_of_turn.output
        assert (await loop.restore())["state"] == "stepping"  # unchanged
