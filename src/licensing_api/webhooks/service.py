"""Receiving a Stripe event: verify, record once, apply, commit, then answer.

The event id is inserted with ON CONFLICT DO NOTHING in the same transaction as the
event's effect, and that transaction commits here, before the route returns: a 2xx means
the effect is durable, any failure answers 5xx and Stripe retries, and a redelivery of a
recorded event changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import stripe
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api import metrics
from licensing_api.db import session_scope
from licensing_api.errors import BadRequest, ProblemError, ServiceUnavailable
from licensing_api.resources import Resources
from licensing_api.webhooks.handlers import EventContext, handler_for
from licensing_api.webhooks.models import WebhookEvent
from licensing_api.webhooks.schemas import EventOutcome, StripeEvent, WebhookAck
from licensing_api.webhooks.thin_events import is_thin_event, receive_thin_event

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300


class InvalidWebhook(BadRequest):
    slug, title = "invalid-webhook", "Invalid webhook"


class WebhooksDisabled(ServiceUnavailable):
    slug, title = "webhooks-disabled", "Webhooks are not configured"


class WebhookFailed(ProblemError):
    """The event could not be applied; nothing was recorded, so Stripe's retry will apply it."""

    status, slug, title = 500, "webhook-failed", "Webhook not processed"


async def receive_event(resources: Resources, payload: bytes, signature: str | None) -> WebhookAck:
    secrets = resources.settings.webhook_secrets
    if not secrets:
        raise WebhooksDisabled("STRIPE_WEBHOOK_SECRET is unset; the webhook endpoint is off")
    if is_thin_event(payload):  # from an event destination (meter error reports)
        return await receive_thin_event(resources, payload, signature, secrets)
    verify_signature(payload, signature, secrets)
    event = parse_event(payload)
    try:
        async with session_scope(resources.sessionmaker) as session:
            outcome = await record_and_apply(session, resources, event)
    except Exception as exc:  # log and re-raise as 5xx: the rollback dropped the event record
        metrics.WEBHOOK_EVENTS.labels(type=event.type, outcome="failed").inc()
        logger.exception("webhook_failed", extra={"event_id": event.id, "event_type": event.type})
        if isinstance(exc, ProblemError) and exc.status >= 500:
            raise
        raise WebhookFailed(f"event {event.id} was not processed; Stripe will retry") from exc
    metrics.WEBHOOK_EVENTS.labels(type=event.type, outcome=outcome).inc()
    logger.info("webhook_processed",
                extra={"event_id": event.id, "event_type": event.type, "outcome": str(outcome)})
    return WebhookAck(event_id=event.id, type=event.type, outcome=outcome)


def verify_signature(payload: bytes, signature: str | None, secrets: list[str]) -> None:
    """Valid if any `v1` signature of the header matches any current secret (rotation)."""
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    problem = "no webhook secret"
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
            )
            return
        except stripe.SignatureVerificationError as exc:
            if "tolerance" not in problem:  # a matching but stale signature says more
                problem = str(exc.user_message or exc)
        except UnicodeDecodeError:
            raise InvalidWebhook("the body is not UTF-8") from None
    raise InvalidWebhook(f"bad Stripe-Signature: {problem}")


def parse_event(payload: bytes) -> StripeEvent:
    try:
        return StripeEvent.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidWebhook(f"not a Stripe event: {where}: {first['msg']}") from None


async def record_and_apply(
    session: AsyncSession, resources: Resources, event: StripeEvent
) -> EventOutcome:
    if not await record_once(session, event):
        return EventOutcome.DUPLICATE
    handler = handler_for(event.type)
    if handler is None:
        outcome = EventOutcome.UNHANDLED
    else:
        outcome = await handler(EventContext(session, resources, event))
    await session.execute(
        update(WebhookEvent).where(WebhookEvent.id == event.id).values(outcome=outcome)
    )
    return outcome


async def record_once(session: AsyncSession, event: StripeEvent) -> bool:
    """Insert the event id; False if it is already recorded (or being recorded right now:
    PostgreSQL makes a concurrent duplicate wait for the first one's commit)."""
    return await record_event_once(
        session, event.id, event.type, event.created_at, event.model_dump(mode="json"))


async def record_event_once(
    session: AsyncSession, event_id: str, event_type: str, created_at: datetime, payload: dict[str, Any]
) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(WebhookEvent)
        .values(
            id=event_id,
            type=event_type,
            stripe_created_at=created_at,
            outcome="processing",
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=[WebhookEvent.id])
        .returning(WebhookEvent.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None
