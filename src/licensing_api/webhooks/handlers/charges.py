"""`charge.refunded`, `charge.dispute.created` and `charge.dispute.closed`.

Only a charge that paid one of this customer's licensing invoices counts; anything else sold
on the same Stripe account is `ignored`. A full refund or a dispute revokes (REFUND_ACTION /
DISPUTE_ACTION=revoke, the default: the Stripe subscription is canceled too, so Stripe stops
billing) or suspends (=suspend). A partial refund is a goodwill gesture, not a reason to cut
access. A dispute closed as won lifts a dispute suspension; nothing else does but an operator.
"""

from __future__ import annotations

from typing import Any, Literal

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.accounts.service import (
    DISPUTE_REASON,
    REFUND_REASON,
    Freshness,
    change_state,
    customer_by_stripe_id,
    freshness,
    last_suspension_reason,
    note_source,
    revoke,
    suspend,
)
from licensing_api.billing.cancellation import cancel_stripe_subscriptions
from licensing_api.billing.charge_origin import licensing_subscription_paid_by
from licensing_api.webhooks.handlers.context import EventContext, Handler, fetch_current, reference_id
from licensing_api.webhooks.schemas import EventOutcome


async def charge_refunded(ctx: EventContext) -> EventOutcome:
    charge = ctx.event.object
    if not charge.get("refunded"):
        return EventOutcome.IGNORED
    customer = await _licensing_customer(ctx, charge)
    if customer is None:
        return EventOutcome.IGNORED
    return await act(ctx, customer, ctx.resources.settings.refund_action, REFUND_REASON)


async def dispute_created(ctx: EventContext) -> EventOutcome:
    customer = await _licensing_customer(ctx, await _disputed_charge(ctx))
    if customer is None:
        return EventOutcome.IGNORED
    return await act(ctx, customer, ctx.resources.settings.dispute_action, DISPUTE_REASON)


async def dispute_closed(ctx: EventContext) -> EventOutcome:
    """Won: the money stays with us, so a suspension for this dispute is lifted. Lost or
    accepted: the suspension (or revocation) stands."""
    if ctx.event.object.get("status") != "won":
        return EventOutcome.IGNORED
    customer = await _licensing_customer(ctx, await _disputed_charge(ctx))
    if customer is None or customer.state != AccountState.SUSPENDED:
        return EventOutcome.IGNORED
    if await last_suspension_reason(ctx.session, customer) != DISPUTE_REASON:
        return EventOutcome.IGNORED  # suspended for something else: not ours to lift
    await change_state(ctx.session, ctx.resources, customer, AccountState.ACTIVE,
                       reason="dispute_won", source=ctx.event.source)
    note_source(customer, ctx.event.created_at)
    return EventOutcome.APPLIED


async def act(
    ctx: EventContext, customer: Customer, action: Literal["revoke", "suspend"], reason: str
) -> EventOutcome:
    at = ctx.event.created_at
    if action == "revoke":  # final, so order does not matter
        canceled = await cancel_stripe_subscriptions(ctx.session, ctx.resources, customer,
                                                     reason=reason, source=ctx.event.source)
        audited = f"{reason}; Stripe subscription {', '.join(canceled)} canceled" if canceled else reason
        moved = await revoke(ctx.session, ctx.resources, customer, reason=audited,
                             source=ctx.event.source)
        if canceled and not moved:  # revoked before for another reason: still audit the cancel
            ctx.session.add(AuditLogEntry(
                customer_id=customer.id, from_state=customer.state, to_state=customer.state,
                reason=audited, source=ctx.event.source))
    elif freshness(customer.state_source_at, at) is Freshness.OLDER:
        return EventOutcome.STALE
    else:
        await suspend(ctx.session, ctx.resources, customer, reason=reason, source=ctx.event.source)
    note_source(customer, at)
    return EventOutcome.APPLIED


async def _disputed_charge(ctx: EventContext) -> dict[str, Any]:
    """A dispute names its charge, not the customer: the charge says whose it was."""
    charge = ctx.event.object.get("charge")
    if isinstance(charge, dict):
        return charge
    return (await fetch_current(ctx, "charges", str(charge)) if charge else None) or {}


async def _licensing_customer(ctx: EventContext, charge: dict[str, Any]) -> Customer | None:
    """The charge's customer, if the charge paid one of that customer's licensing invoices."""
    customer = await customer_by_stripe_id(ctx.session, reference_id(charge.get("customer")))
    if customer is None:
        return None
    paid = await licensing_subscription_paid_by(ctx.session, ctx.resources.stripe, customer, charge)
    return customer if paid is not None else None


HANDLERS: dict[str, Handler] = {
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_created,
    "charge.dispute.closed": dispute_closed,
}
