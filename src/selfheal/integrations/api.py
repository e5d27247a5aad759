"""HTTP API of the integrations context: deliveries, the dead-letter list, manual retry, and
the inbound callbacks (Slack's interactive endpoint, Jira's comment webhook)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from selfheal.core import InvalidInput, SelfhealError
from selfheal.delivery import DEAD, DeliveryQuery
from selfheal.integrations.errors import BadSignature
from selfheal.integrations.jira import JiraPlugin
from selfheal.integrations.slack import SlackPlugin

if TYPE_CHECKING:
    from selfheal.integrations.component import IntegrationsComponent


def router(component: IntegrationsComponent) -> APIRouter:
    api = APIRouter(tags=["integrations"])
    runtime = component.runtime

    async def admin(request: Request) -> None:
        await runtime.require_admin(request.headers.get("authorization"))

    @api.get("/api/v1/deliveries")
    async def list_deliveries(
        request: Request,
        problem: str | None = None,
        context: str | None = None,
        status: str | None = None,
        integration: str | None = None,
        limit: int = Query(200, ge=1, le=1000),
    ) -> dict[str, Any]:
        await admin(request)
        found = await component.store.find(
            DeliveryQuery(problem, context, status, integration, limit)
        )
        return {"deliveries": [d.public() for d in found], "totalCount": len(found)}

    @api.get("/api/v1/deliveries/dead-letters")
    async def dead_letters(
        request: Request, limit: int = Query(200, ge=1, le=1000)
    ) -> dict[str, Any]:
        await admin(request)
        found = await component.store.find(DeliveryQuery(status=DEAD, limit=limit))
        return {"deliveries": [d.public() for d in found], "totalCount": len(found)}

    @api.get("/api/v1/deliveries/{delivery_id}")
    async def get_delivery(request: Request, delivery_id: str) -> dict[str, Any]:
        await admin(request)
        return (await component.store.get(delivery_id)).public()

    @api.post("/api/v1/deliveries/{delivery_id}/retry")
    async def retry_delivery(request: Request, delivery_id: str) -> dict[str, Any]:
        await admin(request)
        return (await component.outbox.retry(delivery_id)).public()

    @api.get("/api/v1/integrations")
    async def list_integrations(request: Request) -> dict[str, Any]:
        await admin(request)
        return {
            "integrations": [
                {"name": name, "type": plugin.type, "events": component.specs[name].events}
                for name, plugin in component.plugins.items()
            ]
        }

    @api.post("/api/v1/slack/interactive")
    async def slack_interactive(request: Request) -> JSONResponse:
        body = await request.body()
        slacks = [p for p in component.plugins.values() if isinstance(p, SlackPlugin)]
        signed = [p for p in slacks if p.config.signing_secret is not None]
        if not signed:
            raise BadSignature("no Slack integration with a signing secret is configured")
        decision = None
        failure: BadSignature | None = None
        for plugin in signed:
            try:
                decision = plugin.decide(request.headers, body)
            except BadSignature as exc:
                failure = exc
                continue
            failure = None
            break
        if failure is not None:
            raise failure
        if decision is None:
            return JSONResponse({"text": "nothing to do"})
        control = component.control.service
        try:
            await control.approve(decision.keptn_context, decision.approved, by=decision.user)
        except SelfhealError as exc:
            return JSONResponse({"response_type": "ephemeral", "text": f"not done: {exc.message}"})
        verdict = "approved" if decision.approved else "rejected"
        return JSONResponse(
            {"response_type": "in_channel", "text": f"{verdict} by {decision.user}"}
        )

    @api.post("/api/v1/jira/webhook")
    async def jira_webhook(request: Request, secret: str | None = None) -> dict[str, Any]:
        """Jira's `comment_created` webhook; `?secret=` or an `X-Hub-Signature` HMAC."""
        body = await request.body()
        signature = request.headers.get("x-hub-signature")
        jiras = [
            p
            for p in component.plugins.values()
            if isinstance(p, JiraPlugin) and p.config.webhook_secret is not None
        ]
        if not jiras:
            raise BadSignature("no Jira integration with a webhook secret is configured")
        verified: JiraPlugin | None = None
        for plugin in jiras:
            try:
                plugin.verify(secret=secret, signature=signature, body=body)
            except BadSignature:
                continue
            verified = plugin
            break
        if verified is None:
            raise BadSignature("Jira webhook secret or signature does not match")
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidInput("the Jira webhook body is not JSON", field="body") from None
        if not isinstance(payload, dict):
            raise InvalidInput("the Jira webhook body is not an object", field="body")
        return {"accepted": await verified.receive(payload)}

    return api
