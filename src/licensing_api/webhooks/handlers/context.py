"""What every handler receives, and the Stripe read it uses when an event is in doubt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.resources import Resources
from licensing_api.webhooks.schemas import EventOutcome, StripeEvent


@dataclass(frozen=True, slots=True)
class EventContext:
    session: AsyncSession
    resources: Resources
    event: StripeEvent


Handler = Callable[[EventContext], Awaitable[EventOutcome]]

RETRIEVERS = ("invoices", "subscriptions", "charges")


async def fetch_current(ctx: EventContext, resource: str, object_id: str) -> dict[str, Any] | None:
    """The object as Stripe holds it now, or None when billing is off or it no longer exists.

    A network failure propagates: the webhook answers 5xx and Stripe retries the event.
    """
    if ctx.resources.stripe is None or resource not in RETRIEVERS:
        return None
    service = getattr(ctx.resources.stripe.v1, resource)
    with translate_stripe_errors(f"{resource}.retrieve"):
        try:
            current = await service.retrieve_async(object_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise
    return current.to_dict()  # type: ignore[no-any-return]


def reference_id(value: Any) -> str | None:
    """An id from a field Stripe sends either as an id or as an expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None
