"""Thin v2 events from a Stripe event destination, on the same `POST /webhooks/stripe`.

A thin event (`"object": "v2.core.event"`) carries no data: the SDK's own
`parse_event_notification` verifies its signature (the destination's signing secret, one of
`STRIPE_WEBHOOK_SECRET`) and parses it, then the full event is fetched from Stripe
(`fetch_event`). The event id is recorded once, in the same transaction as its effect, and
that transaction commits before the answer, as for snapshot events: a redelivery changes
nothing, and a failure answers 5xx so Stripe delivers it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api import metrics
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.db import session_scope
from licensing_api.resources import Resources
from licensing_api.usage.meter_errors import ERROR_REPORT_TYPES, apply_error_report
from licensing_api.webhooks.models import WebhookEvent
from licensing_api.webhooks.schemas import EventOutcome, WebhookAck

logger = logging.getLogger(__name__)

THIN_OBJECT = "v2.core.event"
ThinHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[bool]]
HANDLERS: dict[str, ThinHandler] = dict.fromkeys(ERROR_REPORT_TYPES, apply_error_report)


def is_thin_event(payload: bytes) -> bool:
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and body.get("object") == THIN_OBJECT


async def receive_thin_event(
    resources: Resources, payload: bytes, signature: str | None, secrets: list[str],
) -> WebhookAck:
    notification = _parse(resources, payload, signature, secrets)
    event: dict[str, Any] = json.loads(payload)
    event_id, event_type = event["id"], event["type"]
    handler = HANDLERS.get(event_type)
    async with session_scope(resources.sessionmaker) as session:
        if await session.get(WebhookEvent, event_id) is not None:
            return WebhookAck(event_id=event_id, type=event_type, outcome=EventOutcome.DUPLICATE)
    if handler is not None and notification is not None and resources.stripe is not None:
        # The typed retrieve (what `fetch_event` does): the SDK's async raw request sends its
        # own `usage` tag as a query parameter, which Stripe refuses as unknown.
        with translate_stripe_errors("v2.core.events.retrieve"):
            event = (await resources.stripe.v2.core.events.retrieve_async(event_id)).to_dict()
    from licensing_api.webhooks.service import record_event_once

    async with session_scope(resources.sessionmaker) as session:
        if not await record_event_once(session, event_id, event_type, _created(event), event):
            return WebhookAck(event_id=event_id, type=event_type, outcome=EventOutcome.DUPLICATE)
        if handler is None:
            outcome = EventOutcome.UNHANDLED
        elif notification is None:
            outcome = EventOutcome.IGNORED  # billing off: nothing of ours was sent to Stripe
        else:
            outcome = EventOutcome.APPLIED if await handler(session, event) else EventOutcome.IGNORED
        await session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(outcome=outcome))
    metrics.WEBHOOK_EVENTS.labels(type=event_type, outcome=outcome).inc()
    logger.info("webhook_processed", extra={"event_id": event_id, "event_type": event_type,
                                             "outcome": str(outcome), "payload": "thin"})
    return WebhookAck(event_id=event_id, type=event_type, outcome=outcome)


def _parse(resources: Resources, payload: bytes, signature: str | None, secrets: list[str]) -> Any:
    """The SDK's notification, its signature verified by the SDK against any current secret;
    None when billing is off (then only the signature is checked)."""
    from licensing_api.webhooks.service import InvalidWebhook, verify_signature

    if resources.stripe is None:
        verify_signature(payload, signature, secrets)
        return None
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    for secret in secrets:
        try:
            return resources.stripe.parse_event_notification(payload, signature, secret)
        except stripe.SignatureVerificationError:
            continue
        except (ValueError, KeyError) as exc:
            raise InvalidWebhook(f"not a Stripe event notification: {exc}") from None
    verify_signature(payload, signature, secrets)  # raises, saying what is wrong
    raise InvalidWebhook("bad Stripe-Signature")


def _created(event: dict[str, Any]) -> datetime:
    value = event.get("created")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
