"""Dynatrace problem comments: v2 with `Api-Token`, v1 as the fallback."""

from __future__ import annotations

from selfheal.delivery import DeliveryQuery
from selfheal.integrations.dynatrace import create
from selfheal.integrations.standins import DynatraceStandIn, serve
from tests.integration.integrations.harness import PID, Harness, story

TOKEN = "dt0c01.ABCDEFG.HIJKLMNOP"


async def test_v2_comment_per_step_for_its_problems() -> None:
    dt = DynatraceStandIn(token=TOKEN)
    h = Harness({"dt": TOKEN})
    async with serve(dt.app) as url:
        p = create("dynatrace", {"url": url, "token": {"secret": "dt"}}, h.context("dynatrace"))
        for n in story(url=f"{url}/#problems/problemdetails;pid={PID}"):
            await p.notify(n)
        for n in story(url="http://elsewhere.example/problems/1"):
            await p.notify(n)  # not this tenant's problem: nothing written
    posts = [r for r in dt.requests if r.method == "POST"]
    assert len(posts) == 5  # four steps and the sequence result
    for rec in posts:
        assert rec.path == f"/api/v2/problems/{PID}/comments"
        assert rec.headers["authorization"] == f"Api-Token {TOKEN}"
        assert rec.headers["content-type"] == "application/json"
        assert set(rec.json()) == {"message", "context"}
    messages = [c["content"] for c in dt.comments[PID]]
    assert messages[0] == "Keptn triggered action toggle-feature: serve static content"
    assert messages[1] == "Keptn remediation action started execution by: selfheal/integrations"
    assert (
        messages[2]
        == "Keptn finished execution of action by: selfheal/integrations Result: pass Status: succeeded"
    )
    assert messages[3] == "Keptn remediation evaluation resulted in pass (100/100)"


async def test_v1_fallback_when_v2_is_missing() -> None:
    dt = DynatraceStandIn(token=TOKEN, v2=False)
    h = Harness({"dt": TOKEN})
    async with serve(dt.app) as url:
        p = create(
            "dynatrace",
            {"url": url, "token": {"secret": "dt"}, "user": "keptn"},
            h.context("dynatrace"),
        )
        await p.notify(story(url=f"{url}/problems/x")[1])
    v1 = [r for r in dt.requests if r.path.startswith("/api/v1/")]
    assert [r.path for r in v1] == [f"/api/v1/problem/details/{PID}/comments"]
    assert v1[0].json() == {
        "comment": "Keptn triggered action toggle-feature: serve static content",
        "user": "keptn",
        "context": "selfheal",
    }
    kinds = {d.kind: d.status for d in await h.store.find(DeliveryQuery())}
    assert kinds == {"comment.v2": "dead", "comment.v1": "succeeded"}
