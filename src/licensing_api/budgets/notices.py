"""Threshold notices: each threshold of a budget sends one `budget_threshold` notice per
period, whatever the number of workers and hosts, off the request path.

Every worker runs `check_budgets` every `BUDGET_CHECK_INTERVAL_SECONDS` (a lifespan task):

1. Claim: for each budget, the period's estimated bill (the units in Redis, the tier math
   of the invoice) against its thresholds; each threshold reached inserts a row keyed by
   (customer, period start, threshold) with `ON CONFLICT DO NOTHING`. The unique constraint
   lets one insert win, on any host, and the row survives restarts: a threshold is claimed
   once per period, ever.
2. Deliver: `UPDATE … WHERE sent_at IS NULL AND lease over … RETURNING` leases the unsent
   claims to this worker (a concurrent UPDATE re-checks the WHERE clause and finds none),
   the notifier sends each, and `sent_at` records it. A failed send is retried when its
   lease ends, up to `MAX_ATTEMPTS`; a crash between sending and recording can resend one
   notice (at least once), never skip it.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.accounts.notifier import AccountNotice, NoticeKind, Notifier, create_notifier, deliver_notice
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.pricing import format_amount
from licensing_api.billing.provisioning import usage_item_of
from licensing_api.budgets.models import Budget, BudgetNotice
from licensing_api.budgets.spend import bill_of, thresholds_reached
from licensing_api.db import session_scope, utcnow
from licensing_api.periodic import periodic_task
from licensing_api.resources import Resources
from licensing_api.usage.redis_keys import item_period_field, period_totals_of

logger = logging.getLogger(__name__)

SEND_LEASE = timedelta(minutes=2)  # longer than a send can take (notifier timeouts)
MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class BudgetPeriod:
    """A budget in its customer's current period."""

    budget: Budget
    email: str
    plan: PlanSpec
    period_field: str
    period_start: datetime
    period_end: datetime


@dataclass(slots=True)
class CheckResult:
    claimed: int = 0  # thresholds newly claimed this round
    sent: int = 0
    failed: int = 0


async def check_budgets(
    resources: Resources, notifier: Notifier | None = None, now: datetime | None = None
) -> CheckResult:
    """One round: claim the thresholds reached, then deliver the unsent notices."""
    now = now or utcnow()
    notifier = notifier or create_notifier(resources.settings)
    result = CheckResult()
    async with session_scope(resources.sessionmaker) as session:
        periods = await budget_periods(session, resources)
        units = await period_units(resources, [p.period_field for p in periods])
        result.claimed = await claim_reached(session, periods, units, now)
    sent, failed = await deliver_unsent(resources, notifier, now)
    result.sent, result.failed = sent, failed
    return result


async def budget_periods(session: AsyncSession, resources: Resources) -> list[BudgetPeriod]:
    """Every budget whose customer has a subscription with usage, in its current period."""
    rows = (await session.execute(
        select(Budget, Customer.email, Subscription, SubscriptionItem)
        .join(Customer, Customer.id == Budget.customer_id)
        .join(Subscription, Subscription.customer_id == Budget.customer_id)
        .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
    )).all()
    by_customer: dict[uuid.UUID, list[tuple[Budget, str, Subscription, SubscriptionItem]]] = {}
    for row in rows:
        by_customer.setdefault(row[0].customer_id, []).append(tuple(row))  # type: ignore[arg-type]
    periods = []
    for customer_rows in by_customer.values():
        budget, email = customer_rows[0][0], customer_rows[0][1]
        latest = max((r[2] for r in customer_rows), key=lambda s: (s.created_at, str(s.id)))
        plan = resources.catalogue.get(latest.plan_id)
        if plan is None:
            continue
        item = usage_item_of([r[3] for r in customer_rows if r[3].subscription_id == latest.id])
        periods.append(BudgetPeriod(
            budget, email, plan, item_period_field(item.id, item.current_period_start),
            item.current_period_start, item.current_period_end,
        ))
    return periods


async def period_units(resources: Resources, fields: list[str]) -> dict[str, int]:
    """The period totals in Redis (every worker's moved tallies)."""
    by_hash: dict[str, list[str]] = {}
    for field in fields:
        by_hash.setdefault(period_totals_of(field), []).append(field)
    units: dict[str, int] = {}
    for name, wanted in by_hash.items():
        values = await resources.redis.hmget(resources.redis_key(name), wanted)
        units.update({f: int(v or 0) for f, v in zip(wanted, values, strict=True)})
    return units


async def claim_reached(
    session: AsyncSession, periods: list[BudgetPeriod], units: dict[str, int], now: datetime
) -> int:
    """Insert a claim for every threshold reached; returns how many were new."""
    rows = []
    for period in periods:
        budget = period.budget
        bill = bill_of(period.plan, units.get(period.period_field, 0))
        for threshold in thresholds_reached(bill, budget.amount, [int(t) for t in budget.thresholds]):
            rows.append({
                "id": uuid.uuid4(), "customer_id": budget.customer_id, "period_start": period.period_start,
                "period_end": period.period_end, "threshold": threshold, "budget_amount": budget.amount,
                "amount_reached": bill, "currency": period.plan.currency, "attempts": 0, "created_at": now,
            })
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    claimed = await session.execute(
        insert(BudgetNotice).values(rows)
        .on_conflict_do_nothing(index_elements=["customer_id", "period_start", "threshold"])
        .returning(BudgetNotice.id)
    )
    return len(claimed.all())


async def deliver_unsent(resources: Resources, notifier: Notifier, now: datetime) -> tuple[int, int]:
    """Lease the unsent notices to this worker and send them; (sent, failed)."""
    async with session_scope(resources.sessionmaker) as session:
        leased = list((await session.execute(
            update(BudgetNotice)
            .where(BudgetNotice.sent_at.is_(None), BudgetNotice.attempts < MAX_ATTEMPTS,
                   (BudgetNotice.sending_until.is_(None)) | (BudgetNotice.sending_until <= now))
            .values(sending_until=now + SEND_LEASE, attempts=BudgetNotice.attempts + 1)
            .returning(BudgetNotice)
        )).scalars())
        emails = dict((await session.execute(
            select(Customer.id, Customer.email).where(Customer.id.in_({n.customer_id for n in leased}))
        )).all()) if leased else {}
        hard_stops = dict((await session.execute(
            select(Budget.customer_id, Budget.hard_stop).where(Budget.customer_id.in_({n.customer_id for n in leased}))
        )).all()) if leased else {}
    sent = failed = 0
    for claim in leased:
        notice = threshold_notice(claim, emails.get(claim.customer_id, ""), hard_stops.get(claim.customer_id, False))
        if await deliver_notice(notifier, notice):
            async with session_scope(resources.sessionmaker) as session:
                await session.execute(update(BudgetNotice).where(BudgetNotice.id == claim.id).values(sent_at=utcnow()))
            sent += 1
            logger.info("budget_threshold_notified", extra={
                "customer_id": str(claim.customer_id), "threshold": claim.threshold,
                "period_start": claim.period_start.isoformat()})
        else:
            failed += 1
    return sent, failed


def threshold_notice(claim: BudgetNotice, email: str, hard_stop: bool) -> AccountNotice:
    period_end = claim.period_end.isoformat().replace("+00:00", "Z")
    return AccountNotice(
        NoticeKind.BUDGET_THRESHOLD, claim.customer_id, email, f"budget_threshold_{claim.threshold}",
        details={
            "threshold": claim.threshold,
            "budget": claim.budget_amount,
            "amount_so_far": claim.amount_reached,
            "currency": claim.currency,
            "budget_display": format_amount(claim.budget_amount, claim.currency),
            "amount_display": format_amount(claim.amount_reached, claim.currency),
            "period_start": claim.period_start.isoformat().replace("+00:00", "Z"),
            "period_end": period_end,
            "hard_stop": hard_stop,
        },
    )


def budget_check_task(resources: Resources) -> AbstractAsyncContextManager[None]:
    """Run the budget checks in the background for the life of the app."""
    notifier = create_notifier(resources.settings)
    return periodic_task("budget-check", resources.settings.budget_check_interval_seconds,
                         lambda: check_budgets(resources, notifier), "budget_check_failed")
