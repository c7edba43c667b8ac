"""Settling reports from Stripe's own record once a blind resend is no longer safe.

Stripe's meter event summaries aggregate, per customer and meter, the events it recorded in
a time window (minute-aligned). For the minutes in which a report was stamped (now, and
before a late re-stamp), Stripe's total minus the reports it acknowledged is what it holds
of the ones in doubt (pending, or failed). The reports in doubt whose units add up to it,
if exactly one such choice exists, were recorded: marked sent. The others were not: they
open a new dedup window and are sent again under the same identifier. Any other finding
(no choice, or several) is not guessed at: those reports become `failed` with the figures,
for an operator, so Stripe never counts a unit twice.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import stripe

from licensing_api import metrics
from licensing_api.db import session_scope
from licensing_api.resources import Resources
from licensing_api.usage import reports
from licensing_api.usage.models import ReportState
from licensing_api.usage.reports import DueReport
from licensing_api.usage.sending import SendOutcomes

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
MAX_IN_DOUBT = 16  # subsets tried: 2**16
MAX_WINDOW_ROUNDS = 4


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


async def settle(resources: Resources, expired: list[DueReport], outcomes: SendOutcomes, now: datetime) -> None:
    groups: dict[tuple[str, str, str], list[DueReport]] = defaultdict(list)
    unroutable = []
    for d in expired:
        if d.stripe_customer_id and d.event_name and d.meter_id:
            groups[d.stripe_customer_id, d.event_name, d.meter_id].append(d)
        else:
            unroutable.append(d)
    if unroutable:
        await _fail(resources, unroutable, "unsettled: no Stripe customer or meter to ask about it")
    for (customer, event_name, meter_id), group in groups.items():
        try:
            await _settle_group(resources, customer, event_name, meter_id, group, outcomes, now)
        except stripe.StripeError as exc:  # the reports stay pending: settled next flush
            logger.warning("usage_settlement_deferred", extra={
                "stripe_customer_id": customer, "error": f"{type(exc).__name__}: {exc}"[:300]})


async def _settle_group(
    resources: Resources, customer: str, event_name: str, meter_id: str, group: list[DueReport],
    outcomes: SendOutcomes, now: datetime,
) -> None:
    minutes = {minute_of(t) for d in group for t in (d.usage_at, d.previous_usage_at) if t}
    for _ in range(MAX_WINDOW_ROUNDS):  # until every stamp of every report involved is covered
        async with session_scope(resources.sessionmaker) as session:
            involved = await reports.reports_in_windows(
                session, customer, event_name, [(m, m + MINUTE - timedelta(microseconds=1)) for m in minutes])
        wider = minutes | {minute_of(t) for d, _ in involved for t in (d.usage_at, d.previous_usage_at) if t}
        if wider == minutes:
            break
        minutes = wider
    stripe_total = Decimal(0)
    for minute in sorted(minutes):
        stripe_total += await _recorded(resources, meter_id, customer, minute)
    acknowledged = sum(d.units for d, state in involved if state == ReportState.SENT)
    in_doubt = [d for d, state in involved if state != ReportState.SENT]
    held = stripe_total - acknowledged
    recorded = _unique_subset(in_doubt, held)
    expired_ids = {d.id for d in group}
    if recorded is None:
        await _fail(resources, [d for d in in_doubt if d.id in expired_ids],
                    f"unsettled: Stripe's meter summary for {customer} holds {held} units of the "
                    f"{sum(d.units for d in in_doubt)} in doubt in minutes "
                    f"{', '.join(m.strftime('%Y-%m-%dT%H:%MZ') for m in sorted(minutes))}; no unique match")
        return
    recorded_ids = {d.id for d in recorded}
    # Only the expired ones are sent again; a failed report stays failed unless Stripe has it.
    not_recorded = [d for d in in_doubt if d.id not in recorded_ids and d.id in expired_ids]
    async with session_scope(resources.sessionmaker) as session:
        await reports.mark_sent(session, [
            {"b_id": d.id, "b_attempts": d.attempts, "b_response": {"via": "settled", "summary_units": str(held)}}
            for d in recorded], now)
        await reports.reopen(session, [
            {"b_id": d.id, "b_error": "not in Stripe's record after the dedup window; sent again"}
            for d in not_recorded], now)
    outcomes.settled.extend(recorded)
    outcomes.reopened.extend(not_recorded)
    metrics.UNITS_REPORTED.inc(sum(d.units for d in recorded))
    metrics.USAGE_REPORTS.labels("settled").inc(len(recorded))
    metrics.USAGE_REPORTS.labels("reopened").inc(len(not_recorded))
    logger.warning("usage_reports_settled", extra={
        "stripe_customer_id": customer, "recorded": [d.id for d in recorded],
        "not_recorded": [d.id for d in not_recorded]})


async def _recorded(resources: Resources, meter_id: str, customer: str, minute: datetime) -> Decimal:
    assert resources.stripe is not None
    start = int(minute.timestamp())
    page = await resources.stripe.v1.billing.meters.event_summaries.list_async(
        meter_id, {"customer": customer, "start_time": start, "end_time": start + 60})
    metrics.STRIPE_CALLS.labels("meter_event_summaries", "ok").inc()
    return sum((Decimal(str(s.aggregated_value)) for s in page.data), Decimal(0))


def _unique_subset(in_doubt: list[DueReport], held: Decimal) -> list[DueReport] | None:
    """The one choice of reports whose units sum to `held`, or None (none, several, too many)."""
    total = sum(d.units for d in in_doubt)
    if held == 0:
        return []
    if held == total:
        return list(in_doubt)
    if held < 0 or held > total or len(in_doubt) > MAX_IN_DOUBT:
        return None
    matches = [combo for size in range(1, len(in_doubt))
               for combo in itertools.combinations(in_doubt, size) if sum(d.units for d in combo) == held]
    return list(matches[0]) if len(matches) == 1 else None


async def _fail(resources: Resources, unsettled: list[DueReport], reason: str) -> None:
    if not unsettled:
        return
    async with session_scope(resources.sessionmaker) as session:
        await reports.mark_failed(session, [
            {"b_id": d.id, "b_attempts": d.attempts, "b_error": reason[:1000]} for d in unsettled])
    metrics.USAGE_REPORTS.labels("failed").inc(len(unsettled))
    logger.error("usage_reports_unsettled", extra={"reports": [d.id for d in unsettled], "reason": reason[:300]})
