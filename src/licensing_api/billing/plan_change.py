"""Plan changes a customer or an operator asks for: `POST /v1/subscription/plan`, the
dashboard form, `licensing-api customers change-plan`, `POST /admin/customers/{id}/plan`.

Rules (README "Plan changes"):
- `period_end` (the default): the new plan starts with the next period; until then nothing
  changes. With billing on this is a Stripe subscription schedule; asking for the current
  plan again cancels a waiting change.
- `now`: the new plan applies at once. Units served before the change stay on the old plan's
  item (billed at the period end with the old plan's tiers), units after it count on the new
  plan's item (with the new plan's full allowance); the base fees are prorated by the second
  and invoiced at once (`billing/proration.py` says how much). Only between plans with the
  same billing interval (a monthly ↔ yearly change waits for the period end).
- Never across currencies (Stripe refuses mixed currencies on a subscription), never for a
  suspended or revoked account.

Every change is audited and drops the customer's cached access record in every worker.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.accounts.service import CustomerNotFound
from licensing_api.billing import stripe_plan_change
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.provisioning import add_local_items
from licensing_api.billing.proration import ChangeEstimate, estimate_change_now
from licensing_api.billing.service import plan_spec, synced_plan, upsert_plan
from licensing_api.billing.subscription_mirror import end_item, mirror_subscription
from licensing_api.db import utcnow
from licensing_api.errors import Conflict, NotFound
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

ENDED = ("canceled", "incomplete_expired")


class ChangeWhen(enum.StrEnum):
    PERIOD_END = "period_end"
    NOW = "now"


class NoSubscriptionToChange(NotFound):
    slug, title = "no-subscription", "No subscription"


class SamePlan(Conflict):
    slug, title = "same-plan", "Already on that plan"


class PlanChangeRefused(Conflict):
    slug, title = "plan-change-refused", "Plan change not possible"


@dataclass(frozen=True, slots=True)
class PlanChangeResult:
    customer_id: uuid.UUID
    from_plan: str
    to_plan: str
    when: ChangeWhen
    effective_at: datetime
    invoice_now: ChangeEstimate | None  # `now` with billing on: the prorations invoiced now
    canceled_scheduled_change: bool = False


async def current_subscription(session: AsyncSession, customer_id: uuid.UUID) -> Subscription | None:
    """The customer's newest subscription that has not ended (locked)."""
    return await session.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer_id, Subscription.status.not_in(ENDED))
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        .limit(1)
        .with_for_update()
    )


async def change_plan(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, plan_id: str,
    when: ChangeWhen, *, source: str,
) -> PlanChangeResult:
    spec = plan_spec(resources.catalogue, plan_id)
    customer = await session.scalar(select(Customer).where(Customer.id == customer_id).with_for_update())
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    subscription = await current_subscription(session, customer_id)
    if subscription is None:
        raise NoSubscriptionToChange(f"customer {customer_id} has no subscription to change")
    if customer.state in (AccountState.SUSPENDED, AccountState.REVOKED):
        raise PlanChangeRefused(f"the account is {customer.state}; plans change only on an "
                                "account in good standing")
    current = resources.catalogue.get(subscription.plan_id)
    if current is None:
        raise PlanChangeRefused(f"the current plan {subscription.plan_id!r} is no longer in the catalogue")
    _check_compatible(current, spec, when)
    if spec.id == current.id:
        if subscription.scheduled_plan_id is None:
            raise SamePlan(f"the subscription is already on {spec.id!r}")
        return await _cancel_scheduled_change(session, resources, customer, subscription, current, source)
    billed = resources.stripe is not None and subscription.stripe_subscription_id is not None
    if when is ChangeWhen.NOW:
        result = await (_now_in_stripe if billed else _now_locally)(
            session, resources, subscription, current, spec)
    else:
        result = await (_at_period_end_in_stripe if billed else _at_period_end_locally)(
            session, resources, subscription, current, spec)
    _audit(session, customer, f"plan {current.id} → {spec.id} ({when})", source)
    invalidate_after_commit(session, resources.redis, resources.settings.redis_key_prefix,
                            customer_id=customer.id)
    logger.info("plan_changed", extra={"customer_id": str(customer.id), "from_plan": current.id,
                                       "to_plan": spec.id, "when": str(when), "source": source})
    return result


def _check_compatible(current: PlanSpec, new: PlanSpec, when: ChangeWhen) -> None:
    if new.currency != current.currency:
        raise PlanChangeRefused(f"plan {new.id!r} is billed in {new.currency.upper()}, the "
                                f"subscription in {current.currency.upper()}; sign up again for it")
    if when is ChangeWhen.NOW and new.interval != current.interval:
        raise PlanChangeRefused(f"plan {new.id!r} is billed per {new.interval}, the current one per "
                                f"{current.interval}: change with when=period_end")


async def _now_locally(session: AsyncSession, resources: Resources, subscription: Subscription,
                       current: PlanSpec, spec: PlanSpec) -> PlanChangeResult:
    at = utcnow().replace(microsecond=0)
    await switch_local_items(session, subscription, spec, at)
    return PlanChangeResult(subscription.customer_id, current.id, spec.id, ChangeWhen.NOW, at, None)


async def _at_period_end_locally(session: AsyncSession, resources: Resources,
                                 subscription: Subscription, current: PlanSpec,
                                 spec: PlanSpec) -> PlanChangeResult:
    await upsert_plan(session, spec)
    subscription.scheduled_plan_id = spec.id
    subscription.scheduled_change_at = subscription.current_period_end
    return PlanChangeResult(subscription.customer_id, current.id, spec.id, ChangeWhen.PERIOD_END,
                            subscription.current_period_end, None)


async def _now_in_stripe(session: AsyncSession, resources: Resources, subscription: Subscription,
                         current: PlanSpec, spec: PlanSpec) -> PlanChangeResult:
    assert resources.stripe is not None
    new_plan, old_plan = await synced_plan(session, spec), await synced_plan(session, current)
    customer = await session.get(Customer, subscription.customer_id)
    at = await stripe_plan_change.stripe_now(resources.stripe, str(customer.stripe_customer_id))
    estimate = estimate_change_now(current, spec, subscription.current_period_start,
                                   subscription.current_period_end, at)
    updated = await stripe_plan_change.switch_items_now(resources.stripe, subscription, old_plan, new_plan, at)
    # The old metered item stays in Stripe until the period end; here it counts no more units.
    for row in await _live_items(session, subscription):
        if row.stripe_price_id == old_plan.stripe_metered_price_id:
            end_item(row, at)
    await mirror_subscription(session, subscription, updated, changed_at=at)
    return PlanChangeResult(subscription.customer_id, current.id, spec.id, ChangeWhen.NOW, at, estimate)


async def _at_period_end_in_stripe(session: AsyncSession, resources: Resources,
                                   subscription: Subscription, current: PlanSpec,
                                   spec: PlanSpec) -> PlanChangeResult:
    assert resources.stripe is not None
    new_plan = await synced_plan(session, spec)
    schedule_id, effective_at = await stripe_plan_change.schedule_at_period_end(
        resources.stripe, subscription, new_plan)
    subscription.stripe_schedule_id = schedule_id
    subscription.scheduled_plan_id, subscription.scheduled_change_at = spec.id, effective_at
    return PlanChangeResult(subscription.customer_id, current.id, spec.id, ChangeWhen.PERIOD_END,
                            effective_at, None)


async def _cancel_scheduled_change(session: AsyncSession, resources: Resources, customer: Customer,
                                   subscription: Subscription, current: PlanSpec,
                                   source: str) -> PlanChangeResult:
    if resources.stripe is not None and subscription.stripe_schedule_id:
        await stripe_plan_change.release_schedule(resources.stripe, subscription.stripe_schedule_id)
        subscription.stripe_schedule_id = None
    waiting = subscription.scheduled_plan_id
    subscription.scheduled_plan_id = subscription.scheduled_change_at = None
    _audit(session, customer, f"scheduled plan change to {waiting} canceled", source)
    return PlanChangeResult(customer.id, current.id, current.id, ChangeWhen.PERIOD_END,
                            subscription.current_period_end, None, canceled_scheduled_change=True)


async def switch_local_items(
    session: AsyncSession, subscription: Subscription, spec: PlanSpec, at: datetime,
) -> None:
    """Billing off: end the live items at `at` and count from then on items of `spec`."""
    await upsert_plan(session, spec)
    for row in await _live_items(session, subscription):
        end_item(row, at)
    add_local_items(session, subscription, spec, at)
    subscription.plan_id = spec.id
    subscription.scheduled_plan_id = subscription.scheduled_change_at = None
    await session.flush()


async def apply_due_local_change(
    session: AsyncSession, resources: Resources, subscription: Subscription, boundary: datetime,
) -> bool:
    """Billing off, at a period boundary: start the plan change scheduled for it, if any."""
    waiting = subscription.scheduled_plan_id
    if waiting is None or subscription.scheduled_change_at is None \
            or subscription.scheduled_change_at > boundary:
        return False
    spec = resources.catalogue.get(waiting)
    if spec is None:
        logger.error("scheduled_plan_not_in_catalogue", extra={"plan_id": waiting})
        subscription.scheduled_plan_id = subscription.scheduled_change_at = None
        return False
    previous = subscription.plan_id
    await switch_local_items(session, subscription, spec, boundary)
    subscription.billing_anchor = boundary  # the new plan's periods count from its start
    customer = await session.get(Customer, subscription.customer_id)
    if customer is not None:
        _audit(session, customer, f"plan {previous} → {spec.id} (scheduled, period end)", "renewal")
    return True


async def _live_items(session: AsyncSession, subscription: Subscription) -> list[SubscriptionItem]:
    return list(await session.scalars(select(SubscriptionItem).where(
        SubscriptionItem.subscription_id == subscription.id, SubscriptionItem.ended_at.is_(None))))


def _audit(session: AsyncSession, customer: Customer, reason: str, source: str) -> None:
    """A plan change is not a state change: the row keeps the state on both sides."""
    session.add(AuditLogEntry(customer_id=customer.id, from_state=customer.state,
                              to_state=customer.state, reason=reason, source=source))

