"""Billing health: the usage ledger's unsent reports, the last flush, recent Stripe webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.db import utcnow
from licensing_api.usage.models import ReportState, UsageFlush, UsageReport
from licensing_api.usage.reports import oldest_unsent_at
from licensing_api.webhooks.models import WebhookEvent

LISTED_REPORTS = 50
RECENT_EVENTS = 20
WEBHOOK_WINDOW = timedelta(days=7)
PENDING, RETRYING, FAILED = "pending", "retrying", "failed"


@dataclass(frozen=True, slots=True)
class ReportCount:
    reports: int
    units: int


@dataclass(frozen=True, slots=True)
class ReportRow:
    report: UsageReport
    customer_email: str
    customer_id: str
    standing: str  # pending | retrying | failed


@dataclass(frozen=True, slots=True)
class LastFlush:
    id: str
    taken_at: datetime  # when its batch left Redis
    written_at: datetime  # when its reports were in the ledger
    units: int
    recovered: bool

    @property
    def lag_seconds(self) -> float:
        return max((self.written_at - self.taken_at).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class BillingHealth:
    counts: dict[str, ReportCount]  # pending (never tried) | retrying | failed
    reports: list[ReportRow]  # failed and retrying, oldest first
    last_flush: LastFlush | None
    oldest_unsent_age_seconds: float | None
    webhook_outcomes: dict[str, int]  # outcome → events received in WEBHOOK_WINDOW
    webhook_events: list[WebhookEvent]  # newest first


def _standing() -> object:
    return case(
        (UsageReport.state == ReportState.FAILED, FAILED),
        (UsageReport.attempts > 0, RETRYING),
        else_=PENDING,
    )


async def billing_health(session: AsyncSession) -> BillingHealth:
    now = utcnow()
    standing = _standing()
    counts = {name: ReportCount(0, 0) for name in (PENDING, RETRYING, FAILED)}
    for name, reports, units in await session.execute(
        select(standing, func.count(), func.coalesce(func.sum(UsageReport.units), 0))  # type: ignore[call-overload]
        .where(UsageReport.state.in_([ReportState.PENDING, ReportState.FAILED]))
        .group_by(standing)
    ):
        counts[name] = ReportCount(int(reports), int(units))
    rows = await session.execute(
        select(UsageReport, Customer.email, Customer.id, standing)  # type: ignore[call-overload]
        .join(SubscriptionItem, SubscriptionItem.id == UsageReport.subscription_item_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where((UsageReport.state == ReportState.FAILED)
               | ((UsageReport.state == ReportState.PENDING) & (UsageReport.attempts > 0)))
        .order_by(UsageReport.created_at, UsageReport.id)
        .limit(LISTED_REPORTS)
    )
    flush = await session.scalar(select(UsageFlush).order_by(UsageFlush.created_at.desc()).limit(1))
    oldest = await oldest_unsent_at(session)
    outcomes = dict((await session.execute(
        select(WebhookEvent.outcome, func.count())
        .where(WebhookEvent.received_at >= now - WEBHOOK_WINDOW).group_by(WebhookEvent.outcome)
    )).all())
    events = list(await session.scalars(
        select(WebhookEvent).order_by(WebhookEvent.received_at.desc(), WebhookEvent.id).limit(RECENT_EVENTS)
    ))
    return BillingHealth(
        counts=counts,
        reports=[ReportRow(r, email, str(cid), name) for r, email, cid, name in rows],
        last_flush=LastFlush(flush.id, flush.taken_at, flush.created_at, flush.units, flush.recovered)
        if flush else None,
        oldest_unsent_age_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else None,
        webhook_outcomes={str(k): int(v) for k, v in outcomes.items()},
        webhook_events=events,
    )
