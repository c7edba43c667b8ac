"""The flush ledger in PostgreSQL: batches taken out of Redis and the usage reports they became.

A repository: it flushes, never commits (the flusher's `session_scope` commits). A batch is
written in one transaction, at most once: its `usage_flushes` row (primary key = flush id) is
inserted first with ON CONFLICT DO NOTHING, and nothing else is written when it already exists.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Insert, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.billing.periods import add_interval
from licensing_api.db import UTCDateTime
from licensing_api.keys.models import ApiKey
from licensing_api.usage.models import KeyDailyUsage, ReportState, UsageFlush, UsageReport

logger = logging.getLogger(__name__)

# Stripe keeps a closing invoice in draft for an hour (its default finalization grace period)
# and bills usage that arrives meanwhile with a timestamp inside the closed period. We stop
# back-dating 10 minutes before that hour is over so a slow send still lands in time.
LATE_USAGE_WINDOW = timedelta(minutes=50)
LOOKUP_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class TakenBatch:
    """The contents of one flush's in-flight hashes, parsed."""

    flush_id: str
    taken_at: datetime
    item_units: dict[tuple[uuid.UUID, int], int] = field(default_factory=dict)
    key_day_units: dict[tuple[uuid.UUID, date], int] = field(default_factory=dict)
    key_last_used: dict[uuid.UUID, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)  # fields off the layout

    @property
    def units(self) -> int:
        return sum(self.item_units.values())

    @property
    def is_empty(self) -> bool:
        return not (self.item_units or self.key_day_units or self.key_last_used or self.unreadable)


@dataclass(frozen=True, slots=True)
class RecordedBatch:
    reports: list[dict[str, Any]]
    unattributed: dict[str, int]  # "{item}:{epoch}" → units for items that no longer exist


@dataclass(frozen=True, slots=True)
class DueReport:
    id: str
    units: int
    usage_at: datetime
    attempts: int
    event_name: str | None
    stripe_customer_id: str | None


def report_id(flush_id: str, item_id: uuid.UUID, period_start_epoch: int) -> str:
    """Deterministic: the same batch always yields the same ids, so Stripe dedupes resends."""
    return f"ur_{flush_id}_{item_id.hex}_{period_start_epoch}"


def meter_event_time(period_start: datetime, period_end: datetime, now: datetime) -> datetime:
    """The meter event timestamp for units counted in [period_start, period_end).

    Open period: now. Closed less than `LATE_USAGE_WINDOW` ago: one second before the period
    ended, so the units land on the closing invoice while it is still a draft. Closed longer:
    now, so the units are billed in the current period instead of being lost.
    """
    if now < period_end:
        return max(now, period_start)
    if now < period_end + LATE_USAGE_WINDOW:
        return period_end - timedelta(seconds=1)
    return now


async def record_batch(
    session: AsyncSession, batch: TakenBatch, *, billing_enabled: bool, now: datetime,
    recovered: bool = False,
) -> RecordedBatch | None:
    """Write the batch's reports, per-key daily units and last-used times; None if already in."""
    claimed = await session.execute(
        _insert(session, UsageFlush)
        .values(id=batch.flush_id, taken_at=batch.taken_at, units=batch.units,
                recovered=recovered, created_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(UsageFlush.id)
    )
    if claimed.scalar_one_or_none() is None:
        return None
    items = await _items(session, {item_id for item_id, _ in batch.item_units})
    reports, unattributed = [], dict(batch.unreadable)
    for (item_id, epoch), units in sorted(batch.item_units.items(), key=lambda kv: str(kv[0])):
        item = items.get(item_id)
        if item is None:
            unattributed[f"{item_id}:{epoch}"] = units
            continue
        period_start = datetime.fromtimestamp(epoch, UTC)
        period_end = _period_end(item, period_start)
        billable = billing_enabled and item["event_name"] is not None
        reports.append({
            "id": report_id(batch.flush_id, item_id, epoch), "subscription_item_id": item_id,
            "flush_id": batch.flush_id, "units": units, "period_start": period_start,
            "period_end": period_end, "usage_at": meter_event_time(period_start, period_end, now),
            "state": ReportState.PENDING if billable else ReportState.LOCAL, "attempts": 0,
            "created_at": now,
        })
    if reports:
        await session.execute(_insert(session, UsageReport), reports)
    await _add_key_daily_usage(session, batch.key_day_units)
    await _touch_keys(session, batch.key_last_used)
    if unattributed:
        logger.error("usage_unattributed", extra={"flush_id": batch.flush_id, "fields": unattributed})
    return RecordedBatch(reports=reports, unattributed=unattributed)


async def due_reports(session: AsyncSession, now: datetime, limit: int) -> list[DueReport]:
    """Pending reports whose next attempt is due, oldest first, with what Stripe needs."""
    rows = await session.execute(
        select(
            UsageReport.id, UsageReport.units, UsageReport.usage_at, UsageReport.attempts,
            func.coalesce(SubscriptionItem.meter_event_name, Plan.meter_event_name),
            Customer.stripe_customer_id,
        )
        .join(SubscriptionItem, SubscriptionItem.id == UsageReport.subscription_item_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            UsageReport.state == ReportState.PENDING,
            or_(UsageReport.next_attempt_at.is_(None), UsageReport.next_attempt_at <= now),
        )
        .order_by(UsageReport.created_at, UsageReport.id)
        .limit(limit)
    )
    return [DueReport(*row) for row in rows]


async def mark_sent(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """rows: {"b_id", "b_attempts", "b_response"}."""
    await _update_reports(
        session, rows, state=ReportState.SENT, sent_at=now, attempts=bindparam("b_attempts"),
        stripe_response=bindparam("b_response"), next_attempt_at=None,
    )


async def mark_retry(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """rows: {"b_id", "b_attempts", "b_next", "b_error"}."""
    await _update_reports(
        session, rows, attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"),
    )


async def mark_failed(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """rows: {"b_id", "b_attempts", "b_error"}: rejected for good, kept for operators."""
    await _update_reports(
        session, rows, state=ReportState.FAILED, attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"), next_attempt_at=None,
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


def _insert(session: AsyncSession, entity: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    module = sqlite if dialect == "sqlite" else postgresql
    return module.insert(entity)


async def _items(session: AsyncSession, item_ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    found: dict[uuid.UUID, dict[str, Any]] = {}
    ids = sorted(item_ids, key=str)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = await session.execute(
            select(
                SubscriptionItem.id, SubscriptionItem.kind, SubscriptionItem.meter_event_name,
                SubscriptionItem.current_period_start, SubscriptionItem.current_period_end,
                Plan.interval, Plan.meter_event_name,
            )
            .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(SubscriptionItem.id.in_(ids[start:start + LOOKUP_CHUNK]))
        )
        for item_id, kind, item_event, start_at, end_at, interval, plan_event in rows:
            event_name = item_event or (plan_event if kind == "metered" else None)
            found[item_id] = {"event_name": event_name, "start": start_at, "end": end_at,
                              "interval": interval}
    return found


def _period_end(item: dict[str, Any], period_start: datetime) -> datetime:
    if period_start == item["start"]:
        return item["end"]  # type: ignore[no-any-return]
    end = add_interval(period_start, item["interval"])
    # An older period ended when the item's next one began (Stripe periods are contiguous).
    return min(end, item["start"]) if period_start < item["start"] else end


async def _add_key_daily_usage(session: AsyncSession, units: dict[tuple[uuid.UUID, date], int]) -> None:
    if not units:
        return
    known = await _existing_keys(session, {key_id for key_id, _ in units})
    rows = [{"api_key_id": k, "day": d, "units": n} for (k, d), n in units.items() if k in known]
    if len(rows) < len(units):
        logger.warning("usage_key_daily_units_for_deleted_keys", extra={"count": len(units) - len(rows)})
    if not rows:
        return
    statement: Insert = _insert(session, KeyDailyUsage)
    await session.execute(
        statement.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["api_key_id", "day"],
            set_={"units": KeyDailyUsage.units + statement.excluded.units},  # type: ignore[attr-defined]
        ),
        rows,
    )


async def _touch_keys(session: AsyncSession, last_used: dict[uuid.UUID, int]) -> None:
    if not last_used:
        return
    table = ApiKey.__table__
    used_at = bindparam("b_at", type_=UTCDateTime())
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(last_used_at=case(
            (or_(table.c.last_used_at.is_(None), table.c.last_used_at < used_at), used_at),
            else_=table.c.last_used_at,
        )),
        [{"b_id": key_id, "b_at": datetime.fromtimestamp(ts, UTC)} for key_id, ts in last_used.items()],
    )


async def _existing_keys(session: AsyncSession, key_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    ids = sorted(key_ids, key=str)
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        found.update(await session.scalars(
            select(ApiKey.id).where(and_(ApiKey.id.in_(ids[start:start + LOOKUP_CHUNK])))
        ))
    return found
