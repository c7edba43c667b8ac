"""The console's customers: search, one customer's page, and the operator's actions.

Actions are the admin API's own service functions (`admin/service.py`, `billing/plan_change.py`,
`billing/reinstatement.py`, `keys/service.py`); nothing here commits (the route's unit of work does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.accounts.service import CustomerNotFound as CustomerNotFound
from licensing_api.admin.service import get_customer, revoke_key, set_customer_state
from licensing_api.billing.models import Subscription
from licensing_api.billing.plan_change import ChangeWhen, PlanChangeResult, change_plan
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.reinstatement import Reinstated, reinstate
from licensing_api.errors import NotFound
from licensing_api.keys.models import ApiKey, KeyKind
from licensing_api.keys.service import NewKey, create_key
from licensing_api.resources import Resources
from licensing_api.usage.schemas import UsageSummary
from licensing_api.usage.service import NoSubscriptionUsage, current_usage
from licensing_api.usage.tally import UsageTally

PAGE_SIZE = 50
SOURCE = "console"



class CustomerKeyNotFound(NotFound):
    slug, title = "key-not-found", "API key not found"


@dataclass(frozen=True, slots=True)
class CustomerRow:
    customer: Customer
    plan_id: str | None
    usage: UsageSummary | None  # None: no subscription with usage


@dataclass(frozen=True, slots=True)
class CustomerSearch:
    query: str
    state: AccountState | None
    plan: str | None
    offset: int


@dataclass(frozen=True, slots=True)
class CustomerPage:
    customer: Customer
    usage: UsageSummary | None
    subscriptions: list[Subscription]
    keys: list[ApiKey]
    audit: list[AuditLogEntry]  # newest first
    plans: list[PlanSpec]  # plans a change can go to (same currency)


def search_query(search: CustomerSearch) -> Select[tuple[Customer]]:
    """Customers matching an email fragment, a customer id or a Stripe customer id."""
    query = select(Customer).order_by(Customer.created_at.desc(), Customer.id)
    text = search.query.strip()
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(
            func.lower(Customer.email).like(pattern, escape="\\"),
            cast(Customer.id, String) == text.lower(),
            Customer.stripe_customer_id == text,
        ))
    if search.state is not None:
        query = query.where(Customer.state == search.state)
    if search.plan:
        latest = (
            select(Subscription.plan_id)
            .where(Subscription.customer_id == Customer.id)
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
            .limit(1).scalar_subquery()
        )
        query = query.where(latest == search.plan)
    return query


async def search_customers(
    session: AsyncSession, resources: Resources, search: CustomerSearch, tally: UsageTally | None,
) -> tuple[list[CustomerRow], int | None]:
    """One page of matching customers with their usage this period, and the next offset."""
    customers = list(await session.scalars(search_query(search).limit(PAGE_SIZE + 1).offset(search.offset)))
    next_offset = search.offset + PAGE_SIZE if len(customers) > PAGE_SIZE else None
    rows = []
    for customer in customers[:PAGE_SIZE]:
        usage = await usage_of(session, resources, customer.id, tally)
        plan_id = usage.plan_id if usage else await session.scalar(
            select(Subscription.plan_id).where(Subscription.customer_id == customer.id)
            .order_by(Subscription.created_at.desc()).limit(1)
        )
        rows.append(CustomerRow(customer, plan_id, usage))
    return rows, next_offset


async def usage_of(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, tally: UsageTally | None
) -> UsageSummary | None:
    try:
        return await current_usage(
            session, resources.redis, resources.settings.redis_key_prefix, resources.catalogue,
            customer_id, tally,
        )
    except NoSubscriptionUsage:
        return None


async def customer_page(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, tally: UsageTally | None
) -> CustomerPage:
    customer = await get_customer(session, customer_id)
    usage = await usage_of(session, resources, customer_id, tally)
    subscriptions = list(await session.scalars(
        select(Subscription).where(Subscription.customer_id == customer_id)
        .order_by(Subscription.created_at.desc(), Subscription.id)
    ))
    keys = list(await session.scalars(
        select(ApiKey).where(ApiKey.customer_id == customer_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    ))
    audit = list(await session.scalars(
        select(AuditLogEntry).where(AuditLogEntry.customer_id == customer_id)
        .order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc())
    ))
    plans = [spec for spec in resources.catalogue if usage is None or spec.currency == usage.currency]
    return CustomerPage(customer, usage, subscriptions, keys, audit, plans)


# -- actions ---------------------------------------------------------------------------
async def change_customer_plan(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, plan_id: str, when: ChangeWhen
) -> PlanChangeResult:
    await get_customer(session, customer_id)
    return await change_plan(session, resources, customer_id, plan_id, when, source=SOURCE)


async def suspend_customer(session: AsyncSession, resources: Resources, customer_id: uuid.UUID, reason: str) -> Customer:
    return await set_customer_state(session, resources, customer_id, AccountState.SUSPENDED, reason, SOURCE)


async def revoke_customer(session: AsyncSession, resources: Resources, customer_id: uuid.UUID, reason: str) -> Customer:
    return await set_customer_state(session, resources, customer_id, AccountState.REVOKED, reason, SOURCE)


async def reinstate_customer(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, reason: str
) -> Reinstated:
    return await reinstate(session, resources, customer_id, reason=reason, source=SOURCE)


async def issue_key(session: AsyncSession, customer_id: uuid.UUID, name: str | None) -> NewKey:
    await get_customer(session, customer_id)
    return await create_key(session, customer_id, name=name)


async def revoke_customer_key(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey:
    """Revoke one of this customer's keys (not a bot's credential: its bot owns it)."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.customer_id != customer_id or key.kind != KeyKind.SECRET:
        raise CustomerKeyNotFound(f"customer {customer_id} has no API key {key_id}")
    return await revoke_key(session, resources, key_id)
