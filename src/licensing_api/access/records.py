"""What the request path knows about a key: one `AccessRecord`, read from the database once.

`load_access_record` is the only database read the content path ever makes, on a cache miss.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.billing.provisioning import usage_item_of
from licensing_api.budgets.models import Budget
from licensing_api.budgets.spend import SpendStop, spend_stop
from licensing_api.keys.models import ApiKey
from licensing_api.standards.webbotauth import BotKey
from licensing_api.usage.redis_keys import item_period_field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UsageTarget:
    """The subscription item a customer's usage counts toward, in its current period."""

    item_id: uuid.UUID
    period_start: datetime
    period_end: datetime
    plan: PlanSpec
    period_field: str  # usage/redis_keys.py field "{item_id}:{period_start_epoch}"
    period_end_epoch: float
    period_end_text: str  # ISO 8601, "Z"


@dataclass(frozen=True, slots=True)
class AccessRecord:
    digest: str
    key_id: uuid.UUID
    key_id_text: str
    key_revoked: bool
    customer_id: uuid.UUID
    account_state: str
    grace_until_epoch: float | None  # past_due access ends here (compared on each request)
    target: UsageTarget | None  # None: the customer has no subscription yet
    bot_key: BotKey | None  # Web Bot Auth: requests must be signed by this key
    spend_stop: SpendStop | None = None  # the budget's hard stop under the target's plan


async def load_access_record(
    session: AsyncSession, catalogue: PlanCatalogue, digest: str
) -> AccessRecord | None:
    """The record for a key digest, or None if no key has it. One query (with the budget)."""
    rows = (
        await session.execute(
            select(ApiKey, Customer, Subscription, SubscriptionItem, Budget)
            .join(Customer, Customer.id == ApiKey.customer_id)
            .outerjoin(Budget, Budget.customer_id == Customer.id)
            .outerjoin(Subscription, Subscription.customer_id == Customer.id)
            .outerjoin(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
            .where(ApiKey.digest == digest)
        )
    ).all()
    if not rows:
        return None
    key, customer, budget = rows[0][0], rows[0][1], rows[0][4]
    subscriptions = {row[2].id: row[2] for row in rows if row[2] is not None}
    target = None
    if subscriptions:
        latest = max(subscriptions.values(), key=lambda s: (s.created_at, str(s.id)))
        items = [row[3] for row in rows if row[3] is not None and row[3].subscription_id == latest.id]
        plan = catalogue.get(latest.plan_id)
        if items and plan is not None:
            target = _usage_target(usage_item_of(items), plan)
        elif plan is None:
            logger.error("access_plan_not_in_catalogue", extra={"plan_id": latest.plan_id})
    return AccessRecord(
        digest=digest,
        key_id=key.id,
        key_id_text=str(key.id),
        key_revoked=key.status != "active",
        customer_id=customer.id,
        account_state=customer.state,
        grace_until_epoch=customer.grace_until.timestamp() if customer.grace_until else None,
        target=target,
        bot_key=BotKey.from_jwk(key.bot_public_key) if key.bot_public_key else None,
        spend_stop=(
            spend_stop(target.plan, budget.amount, budget.hard_stop)
            if budget is not None and target is not None else None
        ),
    )


def _usage_target(item: SubscriptionItem, plan: PlanSpec) -> UsageTarget:
    period_end = item.current_period_end.isoformat().replace("+00:00", "Z")
    return UsageTarget(
        item_id=item.id,
        period_start=item.current_period_start,
        period_end=item.current_period_end,
        plan=plan,
        period_field=item_period_field(item.id, item.current_period_start),
        period_end_epoch=item.current_period_end.timestamp(),
        period_end_text=period_end,
    )
