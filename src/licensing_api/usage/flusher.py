"""One usage flush: Redis counters → ledger → Stripe, each step idempotent (DESIGN.md §7).

1. Read: the counters that grew since the last flush (`usage/counters.py`); Redis keeps
   them, it only marks which ones the ledger may lag behind.
2. Ledger: one transaction writes, per (item, period), a report of `counter − watermark`
   units (id from the item, period and watermark range) and moves the watermark; per-key
   daily units and last-used times are copied as maxima (`usage/ledger.py`).
3. Redis: counters found below their watermark (Redis lost writes) are raised back to it,
   and the changed marks the ledger now covers are dropped.
4. Send: every pending report that is due goes to Stripe (`usage/sending.py`): resent only
   inside Stripe's 24 h identifier dedup window, settled from Stripe's own record after it.

Never double-counted: a unit is reported only as part of a watermark range, a range is
written once (locked rows, the watermark moves in the same transaction), and Stripe counts a
report's identifier once. Redis losing writes can only leave a counter behind its watermark:
the units between are not reported again, and the regression is logged and counted.

`USAGE_FLUSH_CRASH_AT` (tests only) SIGKILLs the process at `after_take` (counters read),
`after_ledger` (ledger committed) or `after_send` (Stripe answered), to prove the above.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from licensing_api import metrics
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from licensing_api.usage import counters, ledger, redis_keys, reports
from licensing_api.usage.ledger import RecordedCounters, Regression
from licensing_api.usage.models import ReportState
from licensing_api.usage.sending import SendOutcomes, crash_point, send_due
from licensing_api.usage.stripe_reporter import StripeMeterReporter

logger = logging.getLogger(__name__)

CRASH_POINTS = ("after_take", "after_ledger", "after_send")
Clock = Callable[[], datetime]


@dataclass(slots=True)
class FlushReport(SendOutcomes):
    """What one flush did, for the CLI and logs."""

    flush_id: str | None = None
    taken_units: int = 0  # units newly written to the ledger
    counters_read: int = 0
    regressions: list[Regression] = field(default_factory=list)


def new_flush_id(now: datetime) -> str:
    """Time-ordered and unique without any shared counter."""
    return f"{int(now.timestamp()):08x}{secrets.token_hex(6)}"


def late_usage_grace(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.late_usage_grace_minutes)


async def flush_once(
    resources: Resources, reporter: StripeMeterReporter | None = None, *, clock: Clock = utcnow
) -> FlushReport:
    started = time.perf_counter()
    now = clock()
    report = FlushReport(flush_id=new_flush_id(now))
    changed = await counters.read_changed(resources.redis, resources.settings.redis_key_prefix,
                                          report.flush_id or "")
    report.counters_read = sum(len(m) for m in changed.members.values())
    if not changed.is_empty:
        crash_point(resources.settings, "after_take")
        recorded = await _record(resources, changed, report, now)
        crash_point(resources.settings, "after_ledger")
        await _catch_up_redis(resources, changed, recorded)
    if resources.stripe is not None:
        reporter = reporter or StripeMeterReporter(resources.stripe)
        await send_due(resources, reporter, report, now, late_usage_grace(resources.settings))
    await _update_gauges(resources, now)
    metrics.USAGE_FLUSH_DURATION.observe(time.perf_counter() - started)
    logger.info("usage_flushed", extra={
        "flush_id": report.flush_id, "counters_read": report.counters_read,
        "taken_units": report.taken_units, "regressions": len(report.regressions),
        "reports_sent": len(report.sent), "units_reported": report.units_reported,
        "reports_retrying": len(report.retrying), "reports_failed": len(report.failed),
        "reports_settled": len(report.settled), "reports_reopened": len(report.reopened),
    })
    return report


async def _record(
    resources: Resources, changed: counters.ChangedCounters, report: FlushReport, now: datetime
) -> RecordedCounters:
    assert report.flush_id is not None
    async with session_scope(resources.sessionmaker) as session:
        recorded = await ledger.record_counters(
            session, changed, flush_id=report.flush_id, billing_enabled=resources.stripe is not None,
            now=now, late_grace=late_usage_grace(resources.settings),
        )
    report.taken_units = sum(r["units"] for r in recorded.reports)
    report.regressions = recorded.regressions
    if recorded.unattributed:  # kept visible for operators (counters: the latest value wins)
        await resources.redis.hset(  # type: ignore[misc]
            resources.redis_key(redis_keys.UNATTRIBUTED), mapping=recorded.unattributed)
    local = [r for r in recorded.reports if r["state"] == ReportState.LOCAL]
    if local:
        metrics.USAGE_REPORTS.labels("local").inc(len(local))
    if recorded.regressions:
        metrics.USAGE_REDIS_REGRESSIONS.labels("item_period").inc(len(recorded.regressions))
        metrics.USAGE_REDIS_REGRESSED_UNITS.inc(sum(r.watermark - r.found for r in recorded.regressions))
    if recorded.key_day_regressions:
        metrics.USAGE_REDIS_REGRESSIONS.labels("key_day").inc(recorded.key_day_regressions)
    return recorded


async def _catch_up_redis(
    resources: Resources, changed: counters.ChangedCounters, recorded: RecordedCounters
) -> None:
    """Raise regressed counters to their watermarks, then drop the marks the ledger covers."""
    prefix = resources.settings.redis_key_prefix
    if recorded.period_floors or recorded.key_day_floors:
        await counters.raise_to_floors(resources.redis, prefix, recorded.period_floors,
                                       recorded.key_day_floors)
        async with session_scope(resources.sessionmaker) as session:
            await ledger.clear_rebase(session, recorded.period_floors)
    await counters.release(resources.redis, prefix, changed)


async def _update_gauges(resources: Resources, now: datetime) -> None:
    async with session_scope(resources.sessionmaker) as session:
        by_state = await reports.unsettled_units_by_state(session)
        oldest = await reports.oldest_unsent_at(session)
    # Reported units are the counter `licensing_usage_units_reported_total`.
    metrics.USAGE_UNITS_BY_STATE.labels("in_flight").set(by_state.get(ReportState.PENDING, 0))
    metrics.USAGE_UNITS_BY_STATE.labels("failed").set(by_state.get(ReportState.FAILED, 0))
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    metrics.USAGE_FLUSH_LAG.set(max(lag, 0.0))
