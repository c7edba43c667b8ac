"""Budgets: read, set and clear a customer's budget, and where the period stands against it.

Every change drops the customer's cached access records (after the commit, on every worker),
so the hard stop the request path enforces is the one just saved.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.accounts.models import Customer
from licensing_api.accounts.service import CustomerNotFound
from licensing_api.budgets.models import Budget, BudgetNotice
from licensing_api.budgets.schemas import BudgetChange, BudgetOut, BudgetStatus
from licensing_api.db import utcnow
from licensing_api.errors import NotFound
from licensing_api.resources import Resources
from licensing_api.usage.service import NoSubscriptionUsage, current_usage
from licensing_api.usage.tally import UsageTally


class BudgetNotSet(NotFound):
    slug, title = "budget-not-set", "No budget set"


async def find_budget(session: AsyncSession, customer_id: uuid.UUID) -> Budget | None:
    return await session.get(Budget, customer_id)


async def set_budget(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, change: BudgetChange
) -> Budget:
    """Create or replace the customer's budget."""
    if await session.get(Customer, customer_id) is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    budget = await find_budget(session, customer_id)
    if budget is None:
        budget = Budget(customer_id=customer_id)
        session.add(budget)
    budget.amount = change.amount
    budget.thresholds = list(change.thresholds)
    budget.hard_stop = change.hard_stop
    budget.updated_at = utcnow()
    await session.flush()
    _invalidate(session, resources, customer_id)
    return budget


async def clear_budget(session: AsyncSession, resources: Resources, customer_id: uuid.UUID) -> None:
    """Remove the customer's budget (no notices, no hard stop); BudgetNotSet if none."""
    removed = await session.execute(delete(Budget).where(Budget.customer_id == customer_id).returning(Budget.customer_id))
    if removed.scalar_one_or_none() is None:
        raise BudgetNotSet(f"customer {customer_id} has no budget")
    _invalidate(session, resources, customer_id)


async def budget_overview(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, tally: UsageTally | None = None
) -> BudgetOut:
    """The budget and the current period against it; BudgetNotSet if there is none."""
    budget = await find_budget(session, customer_id)
    if budget is None:
        raise BudgetNotSet(f"customer {customer_id} has no budget; set one with PUT /v1/budget")
    try:
        usage = await current_usage(session, resources.redis, resources.settings.redis_key_prefix,
                                    resources.catalogue, customer_id, tally)
    except NoSubscriptionUsage:
        usage = None
    plan = resources.catalogue.get(usage.plan_id) if usage is not None else None
    status = BudgetStatus.of(budget, plan, usage.estimated_amount if usage is not None else None)
    notified: list[int] = []
    if usage is not None:
        notified = sorted(await session.scalars(
            select(BudgetNotice.threshold).where(
                BudgetNotice.customer_id == customer_id, BudgetNotice.period_start == usage.period_start)
        ))
    return BudgetOut(
        **status.model_dump(),
        customer_id=customer_id,
        period_start=usage.period_start if usage is not None else None,
        period_end=usage.period_end if usage is not None else None,
        thresholds_notified=notified,
        updated_at=budget.updated_at,
    )


def _invalidate(session: AsyncSession, resources: Resources, customer_id: uuid.UUID) -> None:
    invalidate_after_commit(session, resources.redis, resources.settings.redis_key_prefix,
                            customer_id=customer_id)
