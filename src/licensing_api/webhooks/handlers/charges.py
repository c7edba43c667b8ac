"""`charge.refunded` and `charge.dispute.created`: revoke or suspend, by REFUND_ACTION and
DISPUTE_ACTION. A partial refund is a goodwill gesture, not a reason to cut access."""

from __future__ import annotations

from typing import Literal

from licensing_api.accounts.models import Customer
from licensing_api.accounts.service import (
    Freshness,
    customer_by_stripe_id,
    freshness,
    note_source,
    revoke,
    suspend,
)
from licensing_api.webhooks.handlers.context import EventContext, Handler, fetch_current, reference_id
from licensing_api.webhooks.schemas import EventOutcome


async def charge_refunded(ctx: EventContext) -> EventOutcome:
    charge = ctx.event.object
    if not charge.get("refunded"):
        return EventOutcome.IGNORED
    customer = await customer_by_stripe_id(ctx.session, reference_id(charge.get("customer")))
    if customer is None:
        return EventOutcome.IGNORED
    return await act(ctx, customer, ctx.resources.settings.refund_action, "charge_refunded")


async def dispute_created(ctx: EventContext) -> EventOutcome:
    """A dispute names its charge, not the customer: the charge says whose it was."""
    dispute = ctx.event.object
    charge = dispute.get("charge")
    if not isinstance(charge, dict):
        charge = await fetch_current(ctx, "charges", str(charge)) if charge else None
    customer = await customer_by_stripe_id(
        ctx.session, reference_id((charge or {}).get("customer"))
    )
    if customer is None:
        return EventOutcome.IGNORED
    return await act(ctx, customer, ctx.resources.settings.dispute_action, "charge_disputed")


async def act(
    ctx: EventContext, customer: Customer, action: Literal["revoke", "suspend"], reason: str
) -> EventOutcome:
    at = ctx.event.created_at
    if action == "revoke":  # final, so order does not matter
        await revoke(ctx.session, ctx.resources, customer, reason=reason, source=ctx.event.source)
    elif freshness(customer.state_source_at, at) is Freshness.OLDER:
        return EventOutcome.STALE
    else:
        await suspend(ctx.session, ctx.resources, customer, reason=reason, source=ctx.event.source)
    note_source(customer, at)
    return EventOutcome.APPLIED


HANDLERS: dict[str, Handler] = {
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_created,
}
