"""`POST /webhooks/stripe`: thin; the service verifies, records and applies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from licensing_api.dependencies import ResourcesDep
from licensing_api.errors import problem_responses
from licensing_api.webhooks import service
from licensing_api.webhooks.schemas import WebhookAck

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/stripe",
    summary="Receive a signed Stripe event",
    description=(
        "Stripe posts account events here. The `Stripe-Signature` header is verified over "
        "the raw body (5 minute tolerance; any current secret of `STRIPE_WEBHOOK_SECRET`). "
        "2xx means the event and its effect are durably recorded; a redelivery answers 200 "
        "with outcome `duplicate`; a 5xx asks Stripe to retry."
    ),
    response_model=WebhookAck,
    responses=problem_responses(
        service.InvalidWebhook, service.WebhookFailed, service.WebhooksDisabled,
        InvalidWebhook="bad Stripe-Signature: No signatures found matching the expected "
        "signature for payload",
        WebhookFailed="event evt_1Pgc76B7WZ01zgkWwyRHS12y was not processed; Stripe will retry",
        WebhooksDisabled="STRIPE_WEBHOOK_SECRET is unset; the webhook endpoint is off",
    ),
)
async def receive_stripe_event(
    request: Request,
    resources: ResourcesDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    payload = await request.body()
    return await service.receive_event(resources, payload, stripe_signature)
