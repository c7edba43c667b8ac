"""What the dashboard shows and does, read from the same service functions as the JSON API.

Units this period come from the usage service (the numbers `GET /v1/usage` answers); the bill
estimate is `billing.pricing.estimate_bill`, the tier math Stripe's invoice uses; the daily
chart and per-key figures come from `key_daily_usage` and Redis's newer counters.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Subscription
from licensing_api.billing.plans import PlanSpec
from licensing_api.bots.service import list_bots
from licensing_api.dashboard.bots import BotRow, PathPrice, bot_rows, path_prices
from licensing_api.dashboard.chart import DailyUnits
from licensing_api.dashboard.sessions import DashboardSession
from licensing_api.db import utcnow
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.keys.service import digest_of, is_well_formed, list_keys
from licensing_api.resources import Resources
from licensing_api.standards.pricing_step import main_currency
from licensing_api.usage.key_counters import key_day_units, last_used_marks
from licensing_api.usage.models import KeyDailyUsage
from licensing_api.usage.schemas import UsageSummary
from licensing_api.usage.service import NoSubscriptionUsage, current_usage
from licensing_api.usage.tally import UsageTally


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: uuid.UUID
    name: str | None
    prefix: str
    status: str
    created_at: datetime
    last_used_at: datetime | None
    period_units: int
    signed_in_with: bool  # the key of the current dashboard session

    @property
    def active(self) -> bool:
        return self.status == KeyStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class AccountOverview:
    customer: Customer
    usage: UsageSummary | None  # None: no subscription yet (the numbers `GET /v1/usage` gives)
    plan: PlanSpec | None
    daily: list[DailyUnits]
    keys: list[KeyRow]
    bots: list[BotRow] = field(default_factory=list)  # verified bots, counted like keys
    path_prices: list[PathPrice] = field(default_factory=list)


async def authenticate_key(session: AsyncSession, secret: str) -> ApiKey | None:
    """The active key whose digest matches `secret`, or None (never compares raw secrets)."""
    secret = secret.strip()
    if not is_well_formed(secret):
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(secret)))
    if key is None or key.status != KeyStatus.ACTIVE:
        return None
    return key


async def session_is_current(session: AsyncSession, dashboard_session: DashboardSession) -> bool:
    """A session lasts while the key it was opened with is active and belongs to the customer."""
    key = await session.get(ApiKey, dashboard_session.key_id)
    return (
        key is not None
        and key.customer_id == dashboard_session.customer_id
        and key.status == KeyStatus.ACTIVE
    )


async def customer_of(session: AsyncSession, dashboard_session: DashboardSession) -> Customer:
    customer = await session.get(Customer, dashboard_session.customer_id)
    if customer is None:
        raise LookupError("signed-in customer no longer exists")
    return customer


async def account_overview(
    session: AsyncSession,
    resources: Resources,
    dashboard_session: DashboardSession,
    tally: UsageTally | None,
) -> AccountOverview:
    """Everything the page shows but invoices; `tally` is this worker's unmoved usage."""
    customer = await customer_of(session, dashboard_session)
    keys = list(reversed(await list_keys(session, customer.id)))  # as `GET /v1/keys`, newest first
    bots = bot_rows(await list_bots(session, customer.id))
    credentials = list(await session.scalars(
        select(ApiKey).where(ApiKey.id.in_([bot.credential_id for bot in bots]))
    )) if bots else []
    try:
        usage: UsageSummary | None = await current_usage(
            session, resources.redis, resources.settings.redis_key_prefix, resources.catalogue,
            customer.id, tally,
        )
    except NoSubscriptionUsage:
        usage = None
    days: list[date] = []  # every day of the period, so the chart shows how far into it we are
    daily_by_key: dict[uuid.UUID, dict[date, int]] = {}
    if usage is not None:
        days = _days_between(usage.period_start, usage.period_end - timedelta(microseconds=1))
        elapsed = [day for day in days if day <= utcnow().date()]
        daily_by_key = await daily_units_by_key(
            session, resources, [k.id for k in keys + credentials], elapsed
        )
    last_used = await _last_used(resources, keys + credentials)
    rows = [
        KeyRow(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            status=key.status,
            created_at=key.created_at,
            last_used_at=last_used.get(key.id),
            period_units=sum(daily_by_key.get(key.id, {}).values()),
            signed_in_with=key.id == dashboard_session.key_id,
        )
        for key in keys
    ]
    totals: dict[date, int] = defaultdict(int)
    for per_day in daily_by_key.values():
        for day, units in per_day.items():
            totals[day] += units
    daily = [DailyUnits(day, totals.get(day, 0)) for day in days]
    plan = resources.catalogue.get(usage.plan_id) if usage is not None else None
    bots = [
        replace(bot, period_units=sum(daily_by_key.get(bot.credential_id, {}).values()),
                last_used_at=last_used.get(bot.credential_id))
        for bot in bots
    ]
    prices = path_prices(plan, resources.catalogue.price_rules, usage.units) if plan and usage else []
    return AccountOverview(customer=customer, usage=usage, plan=plan, daily=daily, keys=rows,
                           bots=bots, path_prices=prices)


async def daily_units_by_key(
    session: AsyncSession, resources: Resources, key_ids: list[uuid.UUID], days: list[date]
) -> dict[uuid.UUID, dict[date, int]]:
    """Units per key per UTC day: the larger of the flushed row and Redis's counter (which
    only grows, and which a flush copies into the row)."""
    result: dict[uuid.UUID, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    if not key_ids or not days:
        return result
    rows = await session.execute(
        select(KeyDailyUsage.api_key_id, KeyDailyUsage.day, func.sum(KeyDailyUsage.units))
        .where(
            KeyDailyUsage.api_key_id.in_(key_ids),
            KeyDailyUsage.day >= days[0],
            KeyDailyUsage.day <= days[-1],
        )
        .group_by(KeyDailyUsage.api_key_id, KeyDailyUsage.day)
    )
    for key_id, day, units in rows:
        result[key_id][day] += int(units)
    live = await key_day_units(
        resources.redis, resources.settings.redis_key_prefix,
        [(key_id, day) for key_id in key_ids for day in days],
    )
    for (key_id, day), units in live.items():
        result[key_id][day] = max(result[key_id][day], units)
    return result


async def _last_used(resources: Resources, keys: list[ApiKey]) -> dict[uuid.UUID, datetime]:
    """The later of the flushed `last_used_at` and the workers' newer Redis mark."""
    if not keys:
        return {}
    marks = await last_used_marks(
        resources.redis, resources.settings.redis_key_prefix, [k.id for k in keys]
    )
    result = {}
    for key in keys:
        mark = marks.get(key.id)
        candidates = [key.last_used_at] if key.last_used_at else []
        if mark is not None:
            candidates.append(datetime.fromtimestamp(float(mark), UTC))
        if candidates:
            result[key.id] = max(candidates)
    return result


def _days_between(start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def plan_currency(session: AsyncSession, resources: Resources, customer_id: uuid.UUID) -> str:
    """The currency of the customer's latest plan (a budget is in it); the catalogue's main
    currency before the customer has a plan."""
    plan_id = await session.scalar(
        select(Subscription.plan_id).where(Subscription.customer_id == customer_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(1))
    plan = resources.catalogue.get(plan_id) if plan_id is not None else None
    return plan.currency if plan is not None else main_currency(resources.catalogue)
