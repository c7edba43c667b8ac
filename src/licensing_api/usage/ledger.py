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

from sqlalchemy import Insert, bindparam, case, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.db import UTCDateTime
from licensing_api.keys.models import ApiKey
from licensing_api.usage.counters import ChangedCounters
from licensing_api.usage.models import KeyDailyUsage, ReportState, UsageFlush, UsageReport, UsageWatermark
from licensing_api.usage.periods import DEFAULT_LATE_USAGE_GRACE, meter_event_time, period_end

logger = logging.getLogger(__name__)

LOOKUP_CHUNK = 5000
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
    marks = await _lock_watermarks(session, totals, items, now)
    moves: list[dict[str, Any]] = []
    for (item_id, epoch), total in sorted(totals.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        mark = marks[item_id, epoch]
        move = _move(recorded, item_id, epoch, total, mark, now)
        if move is not None:
            moves.append(move)
        if total > mark["watermark"]:
            recorded.reports.append(_report(
                item_id, epoch, mark, total, items[item_id], flush_id, billing_enabled, now, late_grace))
    if moves:
        table = UsageWatermark.__table__
        await session.execute(
            update(table).where(table.c.subscription_item_id == bindparam("b_item"),
                                table.c.period_start == bindparam("b_start", type_=UTCDateTime()))
            .values(watermark=bindparam("b_watermark"), regressions=bindparam("b_regressions"),
                    regressed_units=bindparam("b_regressed"), rebase_to=bindparam("b_rebase"),
                    last_regression_at=bindparam("b_regressed_at", type_=UTCDateTime()),
                    updated_at=now),
            moves,
        )
    if recorded.reports:
        await session.execute(_insert(session, UsageFlush).values(
            id=flush_id, taken_at=now, units=sum(r["units"] for r in recorded.reports),
            recovered=False, created_at=now))
        await session.execute(_insert(session, UsageReport), recorded.reports)
    await _record_key_days(session, counters.key_days, recorded)
    await _touch_keys(session, counters.last_used)
    if recorded.unattributed:
        logger.error("usage_unattributed", extra={"flush_id": flush_id, "fields": recorded.unattributed})
    return recorded


def _move(recorded: RecordedCounters, item_id: uuid.UUID, epoch: int, total: int,
          mark: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The watermark row's update for this counter, or None if nothing changes."""
    watermark, rebase_to = mark["watermark"], mark["rebase_to"]
    row = {"b_item": item_id, "b_start": mark["period_start"], "b_watermark": watermark,
           "b_regressions": mark["regressions"], "b_regressed": mark["regressed_units"],
           "b_rebase": None, "b_regressed_at": mark["last_regression_at"]}
    if total > watermark:
        row["b_watermark"] = total
        return row
    if total == watermark:
        return row if rebase_to is not None else None
    recorded.period_floors[item_id, epoch] = watermark
    row["b_rebase"] = watermark
    if rebase_to == watermark:  # seen last time; the counter was not raised yet
        return None
    regression = Regression(item_id, epoch, watermark, total)
    recorded.regressions.append(regression)
    logger.error("usage_redis_regression", extra={
        "subscription_item_id": str(item_id), "period_start": epoch, "watermark": watermark,
        "redis_counter": total, "units_below": watermark - total})
    row.update(b_regressions=mark["regressions"] + 1,
               b_regressed=mark["regressed_units"] + watermark - total, b_regressed_at=now)
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
) -> dict[ItemPeriod, dict[str, Any]]:
    """The watermark rows of these counters, locked for this transaction (created at 0 first
    when missing; a concurrent creator makes the insert wait, then do nothing)."""
    wanted = sorted(totals, key=lambda k: (str(k[0]), k[1]))
    marks = await _select_locked(session, wanted)
    missing = [k for k in wanted if k not in marks]
    if missing:
        rows = []
        for item_id, epoch in missing:
            item, start = items[item_id], datetime.fromtimestamp(epoch, UTC)
            rows.append({"subscription_item_id": item_id, "period_start": start, "watermark": 0,
                         "period_end": period_end(start, item["start"], item["end"], item["interval"]),
                         "regressions": 0, "regressed_units": 0, "updated_at": now})
        statement: Insert = _insert(session, UsageWatermark)
        await session.execute(
            statement.on_conflict_do_nothing(index_elements=["subscription_item_id", "period_start"]),  # type: ignore[attr-defined]
            rows,
        )
        marks.update(await _select_locked(session, missing))
    return marks


async def _select_locked(session: AsyncSession, pairs: list[ItemPeriod]) -> dict[ItemPeriod, dict[str, Any]]:
    found: dict[ItemPeriod, dict[str, Any]] = {}
    w = UsageWatermark
    for start in range(0, len(pairs), LOOKUP_CHUNK):
        chunk = [(item_id, datetime.fromtimestamp(epoch, UTC)) for item_id, epoch in pairs[start:start + LOOKUP_CHUNK]]
        rows = await session.execute(
            select(w.subscription_item_id, w.period_start, w.period_end, w.watermark, w.regressions,
                   w.regressed_units, w.rebase_to, w.last_regression_at)
            .where(tuple_(w.subscription_item_id, w.period_start).in_(chunk))
            .order_by(w.subscription_item_id, w.period_start)
            .with_for_update()
        )
        for row in rows.mappings():
            found[row["subscription_item_id"], int(row["period_start"].timestamp())] = dict(row)
    return found


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
    statement: Insert = _insert(session, KeyDailyUsage)
    current = KeyDailyUsage.units
    stored = await session.execute(
        statement.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["api_key_id", "day"],
            set_={"units": case((statement.excluded.units > current, statement.excluded.units),  # type: ignore[attr-defined]
                                else_=current)},
        ).returning(KeyDailyUsage.api_key_id, KeyDailyUsage.day, KeyDailyUsage.units),
        rows,
    )
    for key_id, day, kept in stored:
        if kept > units[key_id, day]:
            recorded.key_day_floors[key_id, day] = kept
    if recorded.key_day_floors:
        recorded.key_day_regressions = len(recorded.key_day_floors)
        logger.error("usage_redis_key_day_regression", extra={"count": recorded.key_day_regressions})


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
        found.update(await session.scalars(select(ApiKey.id).where(ApiKey.id.in_(ids[start:start + LOOKUP_CHUNK]))))
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
