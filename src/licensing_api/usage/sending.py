"""Sending due usage reports to Stripe, inside the window where a resend is safe.

Stripe deduplicates a meter event `identifier` "within a rolling period of at least 24
hours". A report is therefore resent only before `dedup_from + RESEND_HORIZON` (23 h, one
hour spare for Stripe's aggregation lag and clock skew), where `dedup_from` is no later than
its first attempt (the time the report was written, or its last settlement). A report still
unacknowledged by then is not sent blind: it is settled from Stripe's own record
(`usage/settlement.py`), which says whether an earlier attempt was recorded. `retry-failed`
re-queues reports under the same rule: an old one is settled before it is sent again.

Late usage: a report stamped inside a period whose invoice may be final by now
(`LATE_USAGE_GRACE_MINUTES` after the period's end) is re-stamped to now before it is sent,
so its units are billed in the current period instead of never. The previous stamp is kept:
Stripe may hold an earlier attempt under it, which is what settlement then looks for.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from licensing_api import metrics
from licensing_api.db import session_scope
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from licensing_api.usage import reports
from licensing_api.usage.periods import too_late_for_its_period
from licensing_api.usage.reports import DueReport
from licensing_api.usage.stripe_reporter import MeterEvent, Outcome, SendResult, StripeMeterReporter

logger = logging.getLogger(__name__)

MAX_REPORTS_PER_FLUSH = 150_000
RESEND_HORIZON = timedelta(hours=23)
RETRY_DELAY_CAP = timedelta(hours=1)  # many resends fit in the horizon


@dataclass(slots=True)
class SendOutcomes:
    sent: list[tuple[DueReport, SendResult]] = field(default_factory=list)
    retrying: list[tuple[DueReport, SendResult]] = field(default_factory=list)
    failed: list[tuple[DueReport, SendResult]] = field(default_factory=list)
    settled: list[DueReport] = field(default_factory=list)  # found in Stripe's record
    reopened: list[DueReport] = field(default_factory=list)  # not in it: sent again

    @property
    def units_reported(self) -> int:
        return sum(report.units for report, _ in self.sent)


def resend_allowed(report: DueReport, now: datetime) -> bool:
    return report.dedup_from is not None and now < report.dedup_from + RESEND_HORIZON


async def send_due(
    resources: Resources, reporter: StripeMeterReporter, outcomes: SendOutcomes, now: datetime,
    late_grace: timedelta,
) -> None:
    from licensing_api.usage.settlement import settle

    async with session_scope(resources.sessionmaker) as session:
        due = await reports.due_reports(session, now, MAX_REPORTS_PER_FLUSH)
    expired = [d for d in due if not resend_allowed(d, now)]
    if expired:
        await settle(resources, expired, outcomes, now)
    due = await _restamped(resources, [d for d in due if resend_allowed(d, now)], now, late_grace)
    if due:
        await _send(resources, reporter, due, outcomes, now)


async def _restamped(
    resources: Resources, due: list[DueReport], now: datetime, late_grace: timedelta
) -> list[DueReport]:
    """The reports, those whose period's invoice may be final re-stamped to now (recorded
    before anything is sent)."""
    rows, out = [], []
    for d in due:
        if too_late_for_its_period(d.usage_at, d.period_end, now, late_grace):
            rows.append({"b_id": d.id, "b_usage_at": now, "b_previous": d.usage_at})
            d = DueReport(d.id, d.units, now, d.attempts, d.event_name, d.stripe_customer_id,
                          d.period_end, d.dedup_from, d.usage_at, d.meter_id)
        out.append(d)
    if rows:
        async with session_scope(resources.sessionmaker) as session:
            await reports.restamp(session, rows)
    return out


async def _send(
    resources: Resources, reporter: StripeMeterReporter, due: list[DueReport],
    outcomes: SendOutcomes, now: datetime,
) -> None:
    by_id = {d.id: d for d in due}
    results: list[SendResult] = []
    events = []
    for d in due:
        if d.event_name and d.stripe_customer_id:
            events.append(MeterEvent(d.id, d.event_name, d.stripe_customer_id, d.units, d.usage_at))
        else:
            results.append(SendResult(d.id, Outcome.FAILED, "none",
                                      error="no Stripe customer id or meter for this item"))
    results.extend(await reporter.send(events))
    crash_point(resources.settings, "after_send")
    interval = resources.settings.usage_flush_interval_seconds
    sent: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for result in results:
        d = by_id[result.report_id]
        attempts = d.attempts + 1
        if result.outcome is Outcome.SENT:
            sent.append({"b_id": d.id, "b_attempts": attempts,
                         "b_response": {"via": result.via, "duplicate": result.duplicate}})
            outcomes.sent.append((d, result))
        elif result.outcome is Outcome.RETRY:
            retry.append({"b_id": d.id, "b_attempts": attempts,
                          "b_next": now + retry_delay(attempts, interval), "b_error": result.error})
            outcomes.retrying.append((d, result))
        else:
            failed.append({"b_id": d.id, "b_attempts": attempts, "b_error": result.error})
            outcomes.failed.append((d, result))
    async with session_scope(resources.sessionmaker) as session:
        await reports.mark_sent(session, sent, now)
        await reports.mark_retry(session, retry, now)
        await reports.mark_failed(session, failed)
    metrics.UNITS_REPORTED.inc(sum(by_id[row["b_id"]].units for row in sent))
    metrics.USAGE_REPORTS.labels("sent").inc(len(sent))
    metrics.USAGE_REPORTS.labels("retry").inc(len(retry))
    metrics.USAGE_REPORTS.labels("failed").inc(len(failed))


def retry_delay(attempts: int, interval_seconds: float) -> timedelta:
    """Exponential backoff in flush intervals, with jitter, capped at an hour."""
    base = min(interval_seconds * 2 ** min(attempts - 1, 20), RETRY_DELAY_CAP.total_seconds())
    return timedelta(seconds=base * random.uniform(0.5, 1.0))


def crash_point(settings: Settings, step: str) -> None:
    """Test-only fault hook (`USAGE_FLUSH_CRASH_AT`): die here as a power cut would."""
    if settings.usage_flush_crash_at == step:
        logger.warning("usage_flush_crash_hook", extra={"step": step})
        os.kill(os.getpid(), signal.SIGKILL)
