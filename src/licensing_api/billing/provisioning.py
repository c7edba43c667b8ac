"""Customer provisioning: local rows for a customer, its subscription and first key.

With billing off the subscription is local only; its periods follow the plan's interval from
the moment of creation (`billing_anchor`) and roll over by themselves (`billing/renewals.py`). With billing on, `billing/stripe_provisioning.py` creates the Stripe
customer and subscription first and `record_stripe_subscription` mirrors them here, upserted
by Stripe ids so that a re-run after a crash adds nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.billing.models import Subscription, SubscriptionItem, SubscriptionItemKind
from licensing_api.billing.periods import add_interval
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.service import upsert_plan
from licensing_api.db import utcnow
from licensing_api.errors import Conflict
from licensing_api.keys.models import ApiKey
from licensing_api.keys.service import NewKey, create_key


@dataclass(frozen=True, slots=True)
class ProvisionedCustomer:
    customer: Customer
    subscription: Subscription
    usage_item: SubscriptionItem  # the item usage is counted against
    # None when a re-run found the customer already provisioned (its keys are left alone).
    first_key: NewKey | None


class EmailOnAnotherPlan(Conflict):
    slug, title = "email-on-another-plan", "A customer with this email is on another plan"


async def already_provisioned(
    session: AsyncSession, email: str, plan_id: str
) -> ProvisionedCustomer | None:
    """The live (not revoked) customer with this email, if its subscription is on `plan_id`
    (`first_key=None`: its keys are left alone); None if there is none. On another plan:
    `EmailOnAnotherPlan`, rather than a second customer with the same email."""
    customer = await session.scalar(
        select(Customer)
        .where(func.lower(Customer.email) == email.lower(), Customer.state != AccountState.REVOKED)
        .order_by(Customer.created_at.desc()).limit(1)
    )
    if customer is None:
        return None
    subscription = await session.scalar(
        select(Subscription).where(Subscription.customer_id == customer.id)
        .order_by(Subscription.created_at.desc()).limit(1)
    )
    if subscription is None or subscription.plan_id != plan_id:
        current = subscription.plan_id if subscription is not None else "no plan"
        raise EmailOnAnotherPlan(
            f"{email} is already customer {customer.id} ({current}); change its plan with "
            f"`licensing-api customers change-plan {customer.id} --plan {plan_id}`, or use "
            "another email"
        )
    items = list(await session.scalars(
        select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)
    ))
    return ProvisionedCustomer(customer, subscription, usage_item_of(items), first_key=None)


async def provision_local_customer(
    session: AsyncSession, email: str, plan: PlanSpec
) -> ProvisionedCustomer:
    customer = await _new_customer(session, email, None, source="cli")
    subscription, items = await add_local_subscription(session, customer, plan)
    first_key = await create_key(session, customer.id, name="first key")
    return ProvisionedCustomer(
        customer=customer,
        subscription=subscription,
        usage_item=usage_item_of(items),
        first_key=first_key,
    )


async def add_local_subscription(
    session: AsyncSession, customer: Customer, plan: PlanSpec
) -> tuple[Subscription, list[SubscriptionItem]]:
    """A local subscription (billing off) from now, anchored now, with the plan's items."""
    await upsert_plan(session, plan)
    now = utcnow().replace(microsecond=0)
    subscription = Subscription(
        customer_id=customer.id,
        plan_id=plan.id,
        status="active",
        current_period_start=now,
        current_period_end=add_interval(now, plan.interval),
        billing_anchor=now,
    )
    session.add(subscription)
    await session.flush()
    items = add_local_items(session, subscription, plan, now)
    await session.flush()
    return subscription, items


def add_local_items(
    session: AsyncSession, subscription: Subscription, plan: PlanSpec, start: datetime
) -> list[SubscriptionItem]:
    """The plan's items (base fee, metered usage), counting from `start` to the period end."""
    kinds = ([SubscriptionItemKind.BASE] if plan.has_base_fee else []) + (
        [SubscriptionItemKind.METERED] if plan.is_metered else [])
    items = [
        SubscriptionItem(
            subscription_id=subscription.id, kind=kind,
            meter_event_name=plan.meter_event_name if kind == SubscriptionItemKind.METERED else None,
            current_period_start=start, current_period_end=subscription.current_period_end,
        )
        for kind in kinds
    ]
    session.add_all(items)
    return items


def usage_item_of(items: list[SubscriptionItem]) -> SubscriptionItem:
    """Usage counts against the metered item; a fixed plan counts against its base item.

    Only items still on the subscription count (`ended_at` unset); of several, the one that
    joined last (a plan change's new item)."""
    live = [i for i in items if i.ended_at is None] or items
    metered = [i for i in live if i.kind == SubscriptionItemKind.METERED]
    candidates = metered or [i for i in live if i.kind == SubscriptionItemKind.BASE] or live
    return max(candidates, key=lambda i: i.current_period_start)


async def record_stripe_subscription(
    session: AsyncSession,
    plan: PlanSpec,
    email: str,
    stripe_subscription: stripe.Subscription,
    source: str,
) -> ProvisionedCustomer:
    """Mirror a Stripe customer + subscription locally; a first key only for a new customer.

    Upserts by Stripe ids: calling it again for the same subscription changes nothing and
    returns `first_key=None`. Periods come from the subscription items, where Stripe keeps
    them in this API version.
    """
    await upsert_plan(session, plan)
    stripe_customer_id = _id_of(stripe_subscription.customer)
    customer = await session.scalar(
        select(Customer).where(Customer.stripe_customer_id == stripe_customer_id)
    )
    if customer is None:
        customer = await _new_customer(session, email, stripe_customer_id, source=source)
    stripe_items = list(stripe_subscription["items"].data)
    starts = [_utc(item.current_period_start) for item in stripe_items]
    ends = [_utc(item.current_period_end) for item in stripe_items]
    subscription = await session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription.id)
    )
    if subscription is None:
        subscription = Subscription(
            customer_id=customer.id, plan_id=plan.id, stripe_subscription_id=stripe_subscription.id
        )
        session.add(subscription)
    subscription.status = stripe_subscription.status
    subscription.current_period_start = min(starts)
    subscription.current_period_end = min(ends)
    await session.flush()
    items = []
    for stripe_item, start, end in zip(stripe_items, starts, ends, strict=True):
        item = await session.scalar(
            select(SubscriptionItem).where(
                SubscriptionItem.stripe_subscription_item_id == stripe_item.id
            )
        )
        if item is None:
            metered = stripe_item.price.recurring.usage_type == "metered"
            item = SubscriptionItem(
                subscription_id=subscription.id,
                stripe_subscription_item_id=stripe_item.id,
                kind=SubscriptionItemKind.METERED if metered else SubscriptionItemKind.BASE,
                meter_event_name=plan.meter_event_name if metered else None,
            )
            session.add(item)
        item.stripe_price_id = stripe_item.price.id
        item.current_period_start, item.current_period_end = start, end
        items.append(item)
    await session.flush()
    has_key = await session.scalar(select(ApiKey.id).where(ApiKey.customer_id == customer.id).limit(1))
    first_key = None if has_key else await create_key(session, customer.id, name="first key")
    return ProvisionedCustomer(
        customer=customer,
        subscription=subscription,
        usage_item=usage_item_of(items),
        first_key=first_key,
    )


async def _new_customer(
    session: AsyncSession, email: str, stripe_customer_id: str | None, source: str
) -> Customer:
    customer = Customer(email=email, stripe_customer_id=stripe_customer_id, state=AccountState.ACTIVE)
    session.add(customer)
    await session.flush()
    session.add(
        AuditLogEntry(
            customer_id=customer.id,
            from_state=None,
            to_state=AccountState.ACTIVE,
            reason="customer provisioned",
            source=source,
        )
    )
    return customer


def _id_of(reference: str | stripe.StripeObject) -> str:
    return reference if isinstance(reference, str) else reference.id  # type: ignore[no-any-return]


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
