"""Usage reports once written: what is due for Stripe, outcomes, and the figures operators see.

A repository: it flushes, never commits.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.db import UTCDateTime
from licensing_api.usage import bulk
from licensing_api.usage.models import ReportState, UsageReport, UsageWatermark


@dataclass(frozen=True, slots=True)
class DueReport:
    id: str
    units: int
    usage_at: datetime
    attempts: int
    event_name: str | None
    stripe_customer_id: str | None
    period_end: datetime
    dedup_from: datetime | None
    previous_usage_at: datetime | None
    meter_id: str | None


def _report_columns() -> tuple[Any, ...]:
    return (
        UsageReport.id, UsageReport.units, UsageReport.usage_at, UsageReport.attempts,
        func.coalesce(SubscriptionItem.meter_event_name, Plan.meter_event_name),
        Customer.stripe_customer_id, UsageReport.period_end, UsageReport.dedup_from,
        UsageReport.previous_usage_at, Plan.stripe_meter_id,
    )


def _with_customer(query: Any) -> Any:
    return (
        query.join(SubscriptionItem, SubscriptionItem.id == UsageReport.subscription_item_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
    )


async def due_reports(session: AsyncSession, now: datetime, limit: int) -> list[DueReport]:
    """Pending reports whose next attempt is due, oldest first, with what Stripe needs."""
    rows = await session.execute(
        _with_customer(select(*_report_columns()))
        .where(
            UsageReport.state == ReportState.PENDING,
            or_(UsageReport.next_attempt_at.is_(None), UsageReport.next_attempt_at <= now),
        )
        .order_by(UsageReport.created_at, UsageReport.id)
        .limit(limit)
    )
    return [DueReport(*row) for row in rows]


async def reports_in_windows(
    session: AsyncSession, stripe_customer_id: str, event_name: str, windows: list[tuple[datetime, datetime]]
) -> list[tuple[DueReport, str]]:
    """Every sent, pending or failed report of this customer and meter with a timestamp
    (current or before a re-stamp) in one of the [start, end) windows, with its state."""
    in_window = or_(*(
        or_(UsageReport.usage_at.between(lo, hi), UsageReport.previous_usage_at.between(lo, hi))
        for lo, hi in windows
    ))
    rows = await session.execute(
        _with_customer(select(*_report_columns(), UsageReport.state))
        .where(
            Customer.stripe_customer_id == stripe_customer_id,
            func.coalesce(SubscriptionItem.meter_event_name, Plan.meter_event_name) == event_name,
            UsageReport.state != ReportState.LOCAL,
            in_window,
        )
    )
    return [(DueReport(*row[:-1]), row[-1]) for row in rows]


async def mark_sent(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """rows: {"b_id", "b_attempts", "b_response"} (a whole flush's worth: one statement)."""
    await bulk.update_rows(
        session, UsageReport.__table__, ["id"],
        [{"id": r["b_id"], "attempts": r["b_attempts"], "stripe_response": r["b_response"]} for r in rows],
        state=ReportState.SENT, sent_at=now, next_attempt_at=None, last_attempt_at=now,
    )


async def mark_retry(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """rows: {"b_id", "b_attempts", "b_next", "b_error"}."""
    await _update_reports(
        session, rows, attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"), last_attempt_at=now,
    )


async def mark_failed(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """rows: {"b_id", "b_attempts", "b_error"}: rejected for good, kept for operators."""
    await _update_reports(
        session, rows, state=ReportState.FAILED, attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"), next_attempt_at=None,
    )


async def restamp(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """rows: {"b_id", "b_usage_at", "b_previous"}: a new timestamp, recorded before it is sent."""
    await _update_reports(
        session, rows, usage_at=bindparam("b_usage_at", type_=UTCDateTime()),
        previous_usage_at=bindparam("b_previous", type_=UTCDateTime()),
    )


async def reopen(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """rows: {"b_id", "b_error"}: Stripe's record shows these were never recorded, so a new
    dedup window starts now and they are sent again (same identifier)."""
    await _update_reports(
        session, rows, state=ReportState.PENDING, dedup_from=now, next_attempt_at=now,
        last_error=bindparam("b_error"),
    )


async def _update_reports(session: AsyncSession, rows: list[dict[str, Any]], **values: Any) -> None:
    """One executemany UPDATE of the reports whose ids are the rows' "b_id"."""
    if rows:
        table = UsageReport.__table__
        await session.execute(update(table).where(table.c.id == bindparam("b_id")).values(**values), rows)


async def unsettled_units_by_state(session: AsyncSession) -> dict[str, int]:
    """Units in `pending` and `failed` reports: few rows, found through the state index (the
    ledger's sent and local rows grow without bound, so they are not summed every flush)."""
    rows = await session.execute(
        select(UsageReport.state, func.coalesce(func.sum(UsageReport.units), 0))
        .where(UsageReport.state.in_([ReportState.PENDING, ReportState.FAILED]))
        .group_by(UsageReport.state)
    )
    return {state: int(units) for state, units in rows}


async def units_by_item_and_state(session: AsyncSession) -> dict[uuid.UUID, dict[str, int]]:
    rows = await session.execute(
        select(UsageReport.subscription_item_id, UsageReport.state, func.sum(UsageReport.units))
        .group_by(UsageReport.subscription_item_id, UsageReport.state)
    )
    result: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for item_id, state, units in rows:
        result[item_id][state] = int(units)
    return dict(result)


async def watermarks(session: AsyncSession) -> list[UsageWatermark]:
    return list(await session.scalars(select(UsageWatermark)))


async def failed_reports(session: AsyncSession, limit: int = 50) -> list[UsageReport]:
    rows = await session.scalars(
        select(UsageReport).where(UsageReport.state == ReportState.FAILED)
        .order_by(UsageReport.created_at.desc()).limit(limit)
    )
    return list(rows)


async def waiting_reports(session: AsyncSession, now: datetime, limit: int = 50) -> list[UsageReport]:
    """Pending reports waiting out their backoff: not due before `next_attempt_at`."""
    rows = await session.scalars(
        select(UsageReport)
        .where(UsageReport.state == ReportState.PENDING, UsageReport.next_attempt_at > now)
        .order_by(UsageReport.next_attempt_at, UsageReport.id).limit(limit)
    )
    return list(rows)


async def oldest_unsent_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(func.min(UsageReport.created_at)).where(UsageReport.state == ReportState.PENDING)
    )
