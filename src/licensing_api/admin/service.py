"""Admin queries and operator actions. Nothing here commits: the request's unit of work does."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.accounts.service import CustomerNotFound, change_state, grace_deadline
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanCatalogue
from licensing_api.db import utcnow
from licensing_api.errors import Conflict, NotFound
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.keys.service import revoke_key_everywhere
from licensing_api.resources import Resources
from licensing_api.usage.models import ReportState, UsageReport

logger = logging.getLogger(__name__)

Row = TypeVar("Row")


class SubscriptionNotFound(NotFound):
    slug, title = "subscription-not-found", "Subscription not found"


class UsageReportNotFound(NotFound):
    slug, title = "usage-report-not-found", "Usage report not found"


class TransitionNotAllowed(Conflict):
    slug, title = "transition-not-allowed", "State change not allowed"


class ReportNotFailed(Conflict):
    slug, title = "report-not-failed", "Only failed reports can be retried"


async def page_of(
    session: AsyncSession, query: Select[tuple[Row]], limit: int, offset: int
) -> tuple[Sequence[Row], int | None]:
    """One page of `query` and the offset of the next page (None on the last)."""
    rows = list(await session.scalars(query.limit(limit + 1).offset(offset)))
    next_offset = offset + limit if len(rows) > limit else None
    return rows[:limit], next_offset


def customers_query(state: AccountState | None, email: str | None) -> Select[tuple[Customer]]:
    query = select(Customer).order_by(Customer.created_at, Customer.id)
    if state is not None:
        query = query.where(Customer.state == state)
    if email is not None:
        query = query.where(func.lower(Customer.email) == email.strip().lower())
    return query


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    return customer


async def customer_detail(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    customer = await get_customer(session, customer_id)
    subscriptions = await session.scalars(
        select(Subscription).where(Subscription.customer_id == customer_id)
        .order_by(Subscription.created_at)
    )
    keys = await session.scalars(
        select(ApiKey).where(ApiKey.customer_id == customer_id).order_by(ApiKey.created_at)
    )
    audit = await session.scalars(
        select(AuditLogEntry).where(AuditLogEntry.customer_id == customer_id)
        .order_by(AuditLogEntry.created_at, AuditLogEntry.id)
    )
    return {
        **{c: getattr(customer, c) for c in ("id", "email", "stripe_customer_id", "state",
                                              "grace_until", "created_at", "updated_at")},
        "subscriptions": list(subscriptions),
        "keys": list(keys),
        "audit_log": list(audit),
    }


async def set_customer_state(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID,
    to_state: AccountState, reason: str, source: str = "admin",
) -> Customer:
    """Move an account through the state machine (audited, caches invalidated after commit)."""
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    grace_until = grace_deadline(resources, utcnow()) if to_state == AccountState.PAST_DUE else None
    moved = await change_state(
        session, resources, customer, to_state, reason=reason, source=source,
        grace_until=grace_until,
    )
    if not moved and customer.state != to_state:
        raise TransitionNotAllowed(f"an account cannot go from {customer.state} to {to_state}")
    return customer


def subscriptions_query(customer_id: uuid.UUID | None, status: str | None) -> Select[tuple[Subscription]]:
    query = select(Subscription).order_by(Subscription.created_at, Subscription.id)
    if customer_id is not None:
        query = query.where(Subscription.customer_id == customer_id)
    if status is not None:
        query = query.where(Subscription.status == status)
    return query


async def subscription_detail(session: AsyncSession, subscription_id: uuid.UUID) -> dict[str, Any]:
    subscription = await session.get(Subscription, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id}")
    items = await session.scalars(
        select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription_id)
        .order_by(SubscriptionItem.kind)
    )
    columns = ("id", "customer_id", "plan_id", "stripe_subscription_id", "status",
               "current_period_start", "current_period_end", "created_at")
    return {**{c: getattr(subscription, c) for c in columns}, "items": list(items)}


def keys_query(customer_id: uuid.UUID | None, status: KeyStatus | None) -> Select[tuple[ApiKey]]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if customer_id is not None:
        query = query.where(ApiKey.customer_id == customer_id)
    if status is not None:
        query = query.where(ApiKey.status == status)
    return query


async def revoke_key(session: AsyncSession, resources: Resources, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key (idempotent); every worker drops it from its cache once this commits."""
    key = await revoke_key_everywhere(
        session, resources.redis, resources.settings.redis_key_prefix, key_id
    )
    logger.info("key_revoked", extra={"key_id": str(key.id), "prefix": key.prefix, "source": "admin"})
    return key


async def plans(session: AsyncSession, catalogue: PlanCatalogue) -> list[dict[str, Any]]:
    """The catalogue's plans with the Stripe ids `plans sync` recorded (null before a sync)."""
    rows = {plan.id: plan for plan in await session.scalars(select(Plan))}
    result = []
    for spec in catalogue:
        row = rows.get(spec.id)
        result.append({
            "id": spec.id, "name": spec.name, "kind": str(spec.kind), "currency": spec.currency,
            "interval": spec.interval, "base_amount": spec.base_amount,
            "included_units": spec.included_units, "tiers": spec.tiers_as_json(),
            "cap_units": spec.cap_units, "rate_limit_per_second": spec.rate_limit_per_second,
            "stripe_product_id": row.stripe_product_id if row else None,
            "stripe_meter_id": row.stripe_meter_id if row else None,
        })
    return result


def usage_reports_query(
    state: ReportState | None, subscription_item_id: uuid.UUID | None
) -> Select[tuple[UsageReport]]:
    query = select(UsageReport).order_by(UsageReport.created_at.desc(), UsageReport.id)
    if state is not None:
        query = query.where(UsageReport.state == state)
    if subscription_item_id is not None:
        query = query.where(UsageReport.subscription_item_id == subscription_item_id)
    return query


async def retry_report(session: AsyncSession, report_id: str) -> UsageReport:
    """A failed report back to pending, due now. The next flush sends it under the same
    identifier while Stripe's 24 h dedup window still covers its earlier attempts, and after
    that first settles it from Stripe's own record (`usage/sending.py`): never blind."""
    report = await session.scalar(
        select(UsageReport).where(UsageReport.id == report_id).with_for_update()
    )
    if report is None:
        raise UsageReportNotFound(f"no usage report {report_id}")
    if report.state != ReportState.FAILED:
        raise ReportNotFailed(f"usage report {report_id} is {report.state}, not failed")
    report.state = ReportState.PENDING
    report.attempts = 0
    report.next_attempt_at = utcnow()
    await session.flush()
    logger.info("usage_report_retried", extra={"report_id": report_id, "units": report.units})
    return report


async def retry_failed_reports(session: AsyncSession) -> int:
    """Every failed report back to pending, under the same rule as `retry_report`."""
    result = await session.execute(
        update(UsageReport).where(UsageReport.state == ReportState.FAILED)
        .values(state=ReportState.PENDING, attempts=0, next_attempt_at=utcnow())
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    logger.info("usage_reports_retried", extra={"count": count})
    return count
