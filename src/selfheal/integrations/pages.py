"""The /deliveries page: what every integration sent, per problem or sequence, and the
dead-letter list with a retry button."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from selfheal import flashes
from selfheal.core import SelfhealError, iso_from_epoch, pages
from selfheal.delivery import DeliveryQuery

if TYPE_CHECKING:
    from selfheal.integrations.component import IntegrationsComponent


def router(component: IntegrationsComponent) -> APIRouter:
    ui = APIRouter(include_in_schema=False)
    runtime = component.runtime

    @ui.get("/deliveries")
    async def deliveries(
        request: Request,
        problem: str | None = None,
        context: str | None = None,
        status: str | None = None,
        integration: str | None = None,
    ) -> Response:
        user = await runtime.ui_user(request)
        query = DeliveryQuery(problem or None, context or None, status or None, integration or None)
        rows = await component.store.find(query)
        return runtime.templates.TemplateResponse(
            request,
            "deliveries.html",
            {
                "nav": "deliveries",
                "user": user,
                "rows": rows,
                "filters": {
                    "problem": problem or "",
                    "context": context or "",
                    "status": status or "",
                    "integration": integration or "",
                },
                "integrations": sorted(
                    {*component.plugins, "problem-comments", "unleash", "webhook-action"}
                ),
                "iso": iso_from_epoch,
            },
        )

    @ui.post("/deliveries/{delivery_id}/retry")
    async def retry(request: Request, delivery_id: str) -> Response:
        await runtime.ui_user(request, "responder")
        back = pages.deliveries() + "?status=dead"
        try:
            done = await component.outbox.retry(delivery_id)
        except SelfhealError as exc:
            return flashes.back(back, error=f"not retried: {exc.message}")
        return flashes.back(back, note=f"retried: {done.status}")

    return ui
