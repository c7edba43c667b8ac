"""The flush ledger: Redis's grow-only counters become usage reports above the watermarks.

A repository: it flushes, never commits (the flusher's `session_scope` commits). For each
(item, period) counter read from Redis, `record_counters` locks its watermark row, writes a
report of `counter − watermark` units whose id (the Stripe identifier) is derived from the
item, the period and that watermark range, and moves the watermark to the counter, all in
one transaction. Concurrent flushers serialize on the row locks, and a range is written
once: a second flusher finds the watermark already moved. A counter below its watermark
means Redis lost writes: a regression, counted on the row, never a negative report; the
flusher then raises the counter back to the watermark so later units count from there.
Per-key daily units are copied as a maximum, so they too can never be counted twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, and_, bindparam, case, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.db import UTCDateTime
from licensing_api.keys.models import ApiKey
from licensing_api.usage import bulk
from licensing_api.usage.counters import ChangedCounters
from licensing_api.usage.models import KeyDailyUsage, ReportState, UsageFlush, UsageReport, UsageWatermark
from licensing_api.usage.periods import DEFAULT_LATE_USAGE_GRACE, meter_event_time, period_end

logger = logging.getLogger(__name__)

ItemPeriod = tuple[uuid.UUID, int]  # (subscription item id, period start epoch)


@dataclass(frozen=True, slots=True)
class Regression:
    item_id: uuid.UUID
    period_start_epoch: int
    watermark: int
    found: int  # the counter Redis returned


@dataclass(slots=True)
class RecordedCounters:
    reports: list[dict[str, Any]] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    key_day_regressions: int = 0
    # Counters to raise back to what the ledger holds (regressed, or still to be raised).
    period_floors: dict[ItemPeriod, int] = field(default_factory=dict)
    key_day_floors: dict[tuple[uuid.UUID, date], int] = field(default_factory=dict)
    unattributed: dict[str, int] = field(default_factory=dict)  # field → counter


def report_id(item_id: uuid.UUID, period_start_epoch: int, range_start: int, range_end: int) -> str:
    """Deterministic: the same watermark range always yields the same Stripe identifier."""
    return f"ur_{item_id.hex}_{period_start_epoch}_{range_start}_{range_end}"


async def record_counters(
    session: AsyncSession, counters: ChangedCounters, *, flush_id: str, billing_enabled: bool,
    now: datetime, late_grace: timedelta = DEFAULT_LATE_USAGE_GRACE,
) -> RecordedCounters:
    recorded = RecordedCounters(unattributed=dict(counters.unreadable))
    items = await _items(session, {item_id for item_id, _ in counters.period_totals})
    totals: dict[ItemPeriod, int] = {}
    for (item_id, epoch), total in counters.period_totals.items():
        if item_id in items:
            totals[item_id, epoch] = total
        else:
            recorded.unattributed[f"{item_id}:{epoch}"] = total
    marks, created = await _lock_watermarks(session, totals, items, now)
    moves: list[dict[str, Any]] = []
    for (item_id, epoch), total in sorted(totals.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        mark = marks[item_id, epoch]
        if (item_id, epoch) not in created:  # a new row was inserted at the counter already
            move = _move(recorded, item_id, epoch, total, mark, now)
            if move is not None:
                moves.append(move)
        if total > mark["watermark"]:
            recorded.reports.append(_report(
                item_id, epoch, mark, total, items[item_id], flush_id, billing_enabled, now, late_grace))
    await bulk.update_rows(session, UsageWatermark.__table__, ["subscription_item_id", "period_start"],
                           moves, updated_at=now)
    if recorded.reports:
        await session.execute(_insert(session, UsageFlush).values(
            id=flush_id, taken_at=now, units=sum(r["units"] for r in recorded.reports),
            recovered=False, created_at=now))
        statement, params = bulk.insert_rows_statement(session, UsageReport.__table__, recorded.reports)
        await session.execute(statement, params)
    await _record_key_days(session, counters.key_days, recorded)
    await _touch_keys(session, counters.last_used)
    if recorded.unattributed:
        logger.error("usage_unattributed", extra={"flush_id": flush_id, "fields": recorded.unattributed})
    return recorded


def _move(recorded: RecordedCounters, item_id: uuid.UUID, epoch: int, total: int,
          mark: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The watermark row's update for this counter, or None if nothing changes."""
    watermark, rebase_to = mark["watermark"], mark["rebase_to"]
    row = {"subscription_item_id": item_id, "period_start": mark["period_start"],
           "watermark": watermark, "regressions": mark["regressions"],
           "regressed_units": mark["regressed_units"], "rebase_to": None,
           "last_regression_at": mark["last_regression_at"]}
    if total > watermark:
        row["watermark"] = total
        return row
    if total == watermark:
        return row if rebase_to is not None else None
    recorded.period_floors[item_id, epoch] = watermark
    row["rebase_to"] = watermark
    if rebase_to == watermark:  # seen last time; the counter was not raised yet
        return None
    regression = Regression(item_id, epoch, watermark, total)
    recorded.regressions.append(regression)
    logger.error("usage_redis_regression", extra={
        "subscription_item_id": str(item_id), "period_start": epoch, "watermark": watermark,
        "redis_counter": total, "units_below": watermark - total})
    row.update(regressions=mark["regressions"] + 1,
               regressed_units=mark["regressed_units"] + watermark - total, last_regression_at=now)
    return row


def _report(item_id: uuid.UUID, epoch: int, mark: dict[str, Any], total: int, item: dict[str, Any],
            flush_id: str, billing_enabled: bool, now: datetime, late_grace: timedelta) -> dict[str, Any]:
    start, watermark = mark["period_start"], mark["watermark"]
    billable = billing_enabled and item["event_name"] is not None
    return {
        "id": report_id(item_id, epoch, watermark, total), "subscription_item_id": item_id,
        "flush_id": flush_id, "units": total - watermark, "range_start": watermark,
        "range_end": total, "period_start": start, "period_end": mark["period_end"],
        "usage_at": meter_event_time(start, mark["period_end"], now, late_grace),
        "state": ReportState.PENDING if billable else ReportState.LOCAL, "attempts": 0,
        "dedup_from": now, "created_at": now,
    }


async def _lock_watermarks(
    session: AsyncSession, totals: dict[ItemPeriod, int], items: dict[uuid.UUID, dict[str, Any]],
    now: datetime,
) -> tuple[dict[ItemPeriod, dict[str, Any]], set[ItemPeriod]]:
    """The watermark rows of these counters, locked for this transaction, and the pairs whose
    row did not exist: inserted here already at their counter (the returned marks of those
    read 0, the start of the range their first report covers). A concurrent creator makes the
    insert wait, then do nothing; such rows are read locked like the others."""
    wanted = sorted(totals, key=lambda k: (str(k[0]), k[1]))
    marks = await _select_locked(session, wanted)
    missing = [k for k in wanted if k not in marks]
    created: set[ItemPeriod] = set()
    if missing:
        rows = []
        for item_id, epoch in missing:
            item, start = items[item_id], datetime.fromtimestamp(epoch, UTC)
            rows.append({"subscription_item_id": item_id, "period_start": start,
                         "watermark": totals[item_id, epoch],
                         "period_end": period_end(start, item["start"], item["end"], item["interval"]),
                         "regressions": 0, "regressed_units": 0, "updated_at": now})
        statement, params = bulk.insert_rows_statement(session, UsageWatermark.__table__, rows)
        inserted = await session.execute(
            statement.on_conflict_do_nothing(index_elements=["subscription_item_id", "period_start"])
            .returning(*_WATERMARK_COLUMNS), params)
        for row in inserted.mappings():
            pair = (row["subscription_item_id"], int(row["period_start"].timestamp()))
            marks[pair] = dict(row, watermark=0)
            created.add(pair)
        raced = [k for k in missing if k not in marks]
        if raced:
            marks.update(await _select_locked(session, raced))
    return marks, created


_WATERMARK_COLUMNS = tuple(UsageWatermark.__table__.c[name] for name in (
    "subscription_item_id", "period_start", "period_end", "watermark", "regressions",
    "regressed_units", "rebase_to", "last_regression_at"))


async def _select_locked(session: AsyncSession, pairs: list[ItemPeriod]) -> dict[ItemPeriod, dict[str, Any]]:
    w = UsageWatermark
    columns = _WATERMARK_COLUMNS
    postgres = bulk.is_postgres(session)
    size = bulk.chunk_size(session)
    found: dict[ItemPeriod, dict[str, Any]] = {}
    for start in range(0, len(pairs), size):
        chunk = [(item_id, datetime.fromtimestamp(epoch, UTC)) for item_id, epoch in pairs[start:start + size]]
        if postgres:  # a join with two arrays: a long tuple IN list plans far slower
            wanted = bulk.unnest("wanted", {"item": (Uuid(), [i for i, _ in chunk]),
                                            "start": (UTCDateTime(), [s for _, s in chunk])})
            query = select(*columns).join(wanted, and_(w.subscription_item_id == wanted.c.item,
                                                       w.period_start == wanted.c.start))
        else:
            query = select(*columns).where(tuple_(w.subscription_item_id, w.period_start).in_(chunk))
        rows = await session.execute(
            query.order_by(w.subscription_item_id, w.period_start).with_for_update(of=UsageWatermark))
        for row in rows.mappings():
            found[row["subscription_item_id"], int(row["period_start"].timestamp())] = dict(row)
    return found


async def _items(session: AsyncSession, item_ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    found: dict[uuid.UUID, dict[str, Any]] = {}
    ids = sorted(item_ids, key=str)
    size = bulk.chunk_size(session)
    for start in range(0, len(ids), size):
        query = (
            select(
                SubscriptionItem.id, SubscriptionItem.kind, SubscriptionItem.meter_event_name,
                SubscriptionItem.current_period_start, SubscriptionItem.current_period_end,
                Plan.interval, Plan.meter_event_name,
            )
            .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id)
        )
        rows = await session.execute(bulk.where_in(session, query, SubscriptionItem.id, ids[start:start + size]))
        for item_id, kind, item_event, start_at, end_at, interval, plan_event in rows:
            event_name = item_event or (plan_event if kind == "metered" else None)
            found[item_id] = {"event_name": event_name, "start": start_at, "end": end_at,
                              "interval": interval}
    return found


async def _record_key_days(
    session: AsyncSession, units: dict[tuple[uuid.UUID, date], int], recorded: RecordedCounters
) -> None:
    """`key_daily_usage.units` becomes the larger of itself and Redis's counter."""
    if not units:
        return
    known = await _existing_keys(session, {key_id for key_id, _ in units})
    rows = [{"api_key_id": k, "day": d, "units": n} for (k, d), n in units.items() if k in known]
    if len(rows) < len(units):
        logger.warning("usage_key_daily_units_for_deleted_keys", extra={"count": len(units) - len(rows)})
    if not rows:
        return
    statement, params = bulk.insert_rows_statement(session, KeyDailyUsage.__table__, rows)
    current = KeyDailyUsage.__table__.c.units
    stored = await session.execute(
        statement.on_conflict_do_update(
            index_elements=["api_key_id", "day"],
            set_={"units": case((statement.excluded.units > current, statement.excluded.units), else_=current)},
        ).returning(KeyDailyUsage.__table__.c.api_key_id, KeyDailyUsage.__table__.c.day, current),
        params,
    )
    for key_id, day, kept in stored:
        if kept > units[key_id, day]:
            recorded.key_day_floors[key_id, day] = kept
    if recorded.key_day_floors:
        recorded.key_day_regressions = len(recorded.key_day_floors)
        logger.error("usage_redis_key_day_regression", extra={"count": recorded.key_day_regressions})


async def _touch_keys(session: AsyncSession, last_used: dict[uuid.UUID, int]) -> None:
    """Move `api_keys.last_used_at` forward (never back) to the workers' marks."""
    if not last_used:
        return
    table = ApiKey.__table__
    rows = {"id": list(last_used), "at": [datetime.fromtimestamp(ts, UTC) for ts in last_used.values()]}
    if bulk.is_postgres(session):
        given = bulk.unnest("given", {"id": (Uuid(), rows["id"]), "at": (UTCDateTime(), rows["at"])})
        used_at = given.c.at
        statement = update(table).where(table.c.id == given.c.id)
        params = None
    else:
        used_at = bindparam("b_at", type_=UTCDateTime())
        statement = update(table).where(table.c.id == bindparam("b_id"))
        params = [{"b_id": key_id, "b_at": at} for key_id, at in zip(rows["id"], rows["at"], strict=True)]
    await session.execute(
        statement.where(or_(table.c.last_used_at.is_(None), table.c.last_used_at < used_at))
        .values(last_used_at=used_at), params)


async def _existing_keys(session: AsyncSession, key_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    ids = sorted(key_ids, key=str)
    found: set[uuid.UUID] = set()
    size = bulk.chunk_size(session)
    for start in range(0, len(ids), size):
        found.update(await session.scalars(bulk.where_in(session, select(ApiKey.id), ApiKey.id, ids[start:start + size])))
    return found


def _insert(session: AsyncSession, entity: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    module = sqlite if dialect == "sqlite" else postgresql
    return module.insert(entity)


async def clear_rebase(session: AsyncSession, floors: dict[ItemPeriod, int]) -> None:
    """The counters were raised to these watermarks: nothing left to raise."""
    if not floors:
        return
    table = UsageWatermark.__table__
    await session.execute(
        update(table).where(table.c.subscription_item_id == bindparam("b_item"),
                            table.c.period_start == bindparam("b_start", type_=UTCDateTime()),
                            table.c.rebase_to == bindparam("b_floor"))
        .values(rebase_to=None),
        [{"b_item": item_id, "b_start": datetime.fromtimestamp(epoch, UTC), "b_floor": floor}
         for (item_id, epoch), floor in floors.items()],
    )
