"""The console's overview: revenue, units and customers for the current and last period.

Units this period are `current_usage` per customer, the figure `GET /v1/usage` answers, so
the overview is `/v1/usage` summed; the estimate is `estimate_bill`, the invoices' tier math.
Last period's units are the ledger's (its watermarks: every unit flushed for that period).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.errors import StripeFailure
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanCatalogue
from licensing_api.billing.pricing import estimate_bill
from licensing_api.console.invoices import invoiced_by_period
from licensing_api.console.periods import BilledCustomer, billed_customers
from licensing_api.console.traffic import CrawlerTraffic, OfferConversion, crawler_traffic, offer_conversion
from licensing_api.dashboard.chart import DailyUnits
from licensing_api.dashboard.service import daily_units_by_key
from licensing_api.db import utcnow
from licensing_api.keys.models import ApiKey
from licensing_api.observability.request_metrics import RequestCounters
from licensing_api.resources import Resources
from licensing_api.usage.models import UsageWatermark
from licensing_api.usage.service import NoSubscriptionUsage, current_usage
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

CHART_DAYS = 30


@dataclass(slots=True)
class PeriodFigures:
    units: int = 0
    estimated: dict[str, int] = field(default_factory=dict)  # currency → minor units
    invoiced: dict[str, int] = field(default_factory=dict)
    customers: int = 0  # customers with a subscription in the period

    def add_estimate(self, currency: str, amount: int) -> None:
        self.estimated[currency] = self.estimated.get(currency, 0) + amount


@dataclass(frozen=True, slots=True)
class Overview:
    current: PeriodFigures
    last: PeriodFigures
    invoices_error: str | None  # Stripe could not answer; None with billing off too
    billing_enabled: bool
    states: dict[str, int]  # account state → customers, every state listed
    daily: list[DailyUnits]
    crawlers: list[CrawlerTraffic]
    conversion: OfferConversion


async def overview(
    session: AsyncSession, resources: Resources, tally: UsageTally | None,
    counters: RequestCounters, started_at: datetime,
) -> Overview:
    billed = await billed_customers(session, resources.catalogue)
    current = await current_figures(session, resources, billed, tally)
    last = await last_figures(session, resources.catalogue, billed)
    invoices_error = None
    if resources.stripe is not None:
        try:
            invoiced = await invoiced_by_period(resources.stripe, billed)
            current.invoiced, last.invoiced = invoiced["current"], invoiced["last"]
        except StripeFailure as exc:
            logger.warning("console_invoices_unavailable", extra={"error": exc.detail})
            invoices_error = "Stripe's invoices are unavailable right now; try again in a minute."
    return Overview(
        current=current, last=last, invoices_error=invoices_error,
        billing_enabled=resources.stripe is not None,
        states=await customers_by_state(session),
        daily=await daily_units(session, resources),
        crawlers=crawler_traffic(counters),
        conversion=await offer_conversion(session, counters, started_at),
    )


async def current_figures(
    session: AsyncSession, resources: Resources, billed: list[BilledCustomer], tally: UsageTally | None,
) -> PeriodFigures:
    figures = PeriodFigures()
    for customer in billed:
        try:
            usage = await current_usage(
                session, resources.redis, resources.settings.redis_key_prefix, resources.catalogue,
                customer.customer.id, tally,
            )
        except NoSubscriptionUsage:
            continue
        figures.units += usage.units
        figures.customers += 1
        figures.add_estimate(usage.currency, usage.estimated_amount)
    return figures


async def last_period_units(
    session: AsyncSession, catalogue: PlanCatalogue, billed: list[BilledCustomer]
) -> dict[uuid.UUID, dict[str, int]]:
    """{customer: {plan: units}} flushed for each customer's last period (the ledger's
    watermarks), by the plan each item counted for."""
    result: dict[uuid.UUID, dict[str, int]] = {b.customer.id: {} for b in billed}
    if not billed:
        return result
    by_customer = {b.customer.id: b for b in billed}
    plans_by_meter = {spec.meter_event_name: spec for spec in catalogue if spec.meter_event_name}
    rows = await session.execute(
        select(Subscription.customer_id, Subscription.plan_id, SubscriptionItem.meter_event_name,
               UsageWatermark.period_start, UsageWatermark.watermark)
        .join(SubscriptionItem, SubscriptionItem.id == UsageWatermark.subscription_item_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .where(Subscription.customer_id.in_(list(by_customer)))
    )
    for customer_id, plan_id, meter, period_start, watermark in rows:
        start, end = by_customer[customer_id].last
        spec = plans_by_meter.get(meter) or catalogue.get(plan_id)
        if spec is not None and start <= period_start < end:
            per_plan = result[customer_id]
            per_plan[spec.id] = per_plan.get(spec.id, 0) + int(watermark)
    return result


def last_period_estimate(catalogue: PlanCatalogue, billed: BilledCustomer, units: dict[str, int]) -> int:
    """The current plan's base fee once, plus each plan's usage charges for its units."""
    amount = billed.plan.base_amount
    for plan_id, count in units.items():
        spec = catalogue.get(plan_id)
        if spec is not None:
            amount += estimate_bill(spec, count).usage_amount
    return amount


def had_last_period(billed: BilledCustomer, units: dict[str, int]) -> bool:
    return bool(units) or billed.subscription.created_at < billed.last[1]


async def last_figures(
    session: AsyncSession, catalogue: PlanCatalogue, billed: list[BilledCustomer]
) -> PeriodFigures:
    figures = PeriodFigures()
    units = await last_period_units(session, catalogue, billed)
    for customer in billed:
        per_plan = units[customer.customer.id]
        if not had_last_period(customer, per_plan):
            continue  # subscribed this period
        figures.customers += 1
        figures.units += sum(per_plan.values())
        figures.add_estimate(customer.plan.currency, last_period_estimate(catalogue, customer, per_plan))
    return figures


async def customers_by_state(session: AsyncSession) -> dict[str, int]:
    counts = dict((await session.execute(
        select(Customer.state, func.count()).group_by(Customer.state)
    )).all())
    return {str(state): int(counts.get(state, 0)) for state in AccountState}


async def daily_units(session: AsyncSession, resources: Resources, days: int = CHART_DAYS) -> list[DailyUnits]:
    """Units served per UTC day over the last `days` days, every key together."""
    today = utcnow().date()
    window = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    key_ids = list(await session.scalars(select(ApiKey.id)))
    per_key = await daily_units_by_key(session, resources, key_ids, window)
    totals: dict = defaultdict(int)
    for per_day in per_key.values():
        for day, count in per_day.items():
            totals[day] += count
    return [DailyUnits(day, totals.get(day, 0)) for day in window]
