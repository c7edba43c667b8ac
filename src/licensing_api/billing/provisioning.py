"""Customer provisioning: local rows for a customer, its subscription and first key.

With billing off the subscription is local only; its periods follow the plan's interval from
the moment of creation. The Stripe path (issue: provisioning) builds on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.models import Subscription, SubscriptionItem, SubscriptionItemKind
from licensing_api.billing.periods import add_interval
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.service import upsert_plan
from licensing_api.db import utcnow
from licensing_api.keys.service import NewKey, create_key


@dataclass(frozen=True, slots=True)
class ProvisionedCustomer:
    customer: Customer
    subscription: Subscription
    usage_item: SubscriptionItem  # the item usage is counted against
    first_key: NewKey


async def provision_local_customer(
    session: AsyncSession, email: str, plan: PlanSpec
) -> ProvisionedCustomer:
    await upsert_plan(session, plan)
    now = utcnow().replace(microsecond=0)
    period_end = add_interval(now, plan.interval)
    customer = Customer(email=email, state=AccountState.ACTIVE)
    session.add(customer)
    await session.flush()
    subscription = Subscription(
        customer_id=customer.id,
        plan_id=plan.id,
        status="active",
        current_period_start=now,
        current_period_end=period_end,
    )
    session.add(subscription)
    await session.flush()
    items = []
    if plan.has_base_fee:
        items.append(SubscriptionItem(kind=SubscriptionItemKind.BASE))
    if plan.is_metered:
        items.append(
            SubscriptionItem(kind=SubscriptionItemKind.METERED, meter_event_name=plan.meter_event_name)
        )
    for item in items:
        item.subscription_id = subscription.id
        item.current_period_start = now
        item.current_period_end = period_end
        session.add(item)
    await session.flush()
    first_key = await create_key(session, customer.id, name="first key")
    return ProvisionedCustomer(
        customer=customer,
        subscription=subscription,
        usage_item=usage_item_of(items),
        first_key=first_key,
    )


def usage_item_of(items: list[SubscriptionItem]) -> SubscriptionItem:
    """Usage counts against the metered item; a fixed plan counts against its base item."""
    metered = [i for i in items if i.kind == SubscriptionItemKind.METERED]
    return metered[0] if metered else items[0]
