"""Who is billed and for which periods: each customer's latest subscription, its usage item,
the current period (the one `GET /v1/usage` answers for) and the one before it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.periods import add_interval
from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.billing.provisioning import usage_item_of


@dataclass(frozen=True, slots=True)
class BilledCustomer:
    customer: Customer
    subscription: Subscription
    plan: PlanSpec
    item: SubscriptionItem  # the item usage counts against now
    current: tuple[datetime, datetime]  # [start, end)
    last: tuple[datetime, datetime]  # the period before `current`


async def billed_customers(
    session: AsyncSession, catalogue: PlanCatalogue, customer_ids: list[uuid.UUID] | None = None
) -> list[BilledCustomer]:
    """Every customer (or those of `customer_ids`) with a subscription on a known plan."""
    query = select(Customer, Subscription).join(Subscription, Subscription.customer_id == Customer.id)
    if customer_ids is not None:
        query = query.where(Customer.id.in_(customer_ids))
    latest: dict[uuid.UUID, tuple[Customer, Subscription]] = {}
    for customer, subscription in await session.execute(
        query.order_by(Subscription.created_at, Subscription.id)
    ):
        latest[customer.id] = (customer, subscription)  # the newest wins, as in `current_usage`
    if not latest:
        return []
    items: dict[uuid.UUID, list[SubscriptionItem]] = {}
    for item in await session.scalars(
        select(SubscriptionItem).where(
            SubscriptionItem.subscription_id.in_([s.id for _, s in latest.values()])
        )
    ):
        items.setdefault(item.subscription_id, []).append(item)
    result = []
    for customer, subscription in latest.values():
        plan = catalogue.get(subscription.plan_id)
        if plan is None or not items.get(subscription.id):
            continue
        item = usage_item_of(items[subscription.id])
        start, end = item.current_period_start, item.current_period_end
        result.append(BilledCustomer(
            customer, subscription, plan, item, (start, end),
            (add_interval(start, plan.interval, -1), start),
        ))
    return result
