"""Arrangements for the flusher's tests: billing on against the local Stripe server, a Redis
key prefix of each test's own, customers provisioned in Stripe (`plans sync` + `customers
create` code paths), units served through the request path's own tally (so Redis holds them
as `usage/redis_keys.py` says), and units counted on the Stripe side."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.stripe_provisioning import provision_stripe_customer
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from licensing_api.resources import Resources, open_resources
from licensing_api.settings import Settings
from licensing_api.usage import counters, redis_keys
from licensing_api.usage.flusher import FlushReport, flush_once
from licensing_api.usage.models import ReportState, UsageReport
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from licensing_api.usage.tally import UsageTally
from tests.billing.stripe_setup import unique_catalogue, unique_email, with_billing

PLANS = ("standard", "starter")  # metered (hybrid) and fixed


@dataclass(frozen=True, slots=True)
class BilledItem:
    item_id: uuid.UUID
    period_start: datetime
    api_key_id: uuid.UUID
    api_key_secret: str
    stripe_customer_id: str | None
    event_name: str | None

    @property
    def field(self) -> str:
        return redis_keys.item_period_field(self.item_id, self.period_start)


def flush_settings_for(settings: Settings, stripe_server: Any, folder: Path, **overrides: Any) -> Settings:
    plans_file, _ = unique_catalogue(folder, PLANS)
    prefix = f"{settings.redis_key_prefix}flush-{uuid.uuid4().hex[:8]}:"
    overrides.setdefault("usage_flush_interval_seconds", 0.1)
    return with_billing(settings, stripe_server, plans_file, redis_key_prefix=prefix, **overrides)


@pytest.fixture
def flush_settings(settings: Settings, stripe_server: Any, tmp_path: Path) -> Settings:
    return flush_settings_for(settings, stripe_server, tmp_path)


@pytest.fixture
async def flush_resources(flush_settings: Settings, stripe_server: Any) -> AsyncIterator[Resources]:
    stripe_server.clear_faults()
    async with opened(flush_settings) as resources:
        yield resources
    stripe_server.clear_faults()


@asynccontextmanager
async def opened(settings: Settings, *, sync: bool = True) -> AsyncIterator[Resources]:
    """Resources for these settings, the catalogue synced to Stripe; its Redis keys removed after."""
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        if sync and resources.stripe is not None:
            await sync_catalogue(resources, resources.stripe)
        try:
            yield resources
        finally:
            keys = [k async for k in resources.redis.scan_iter(match=settings.redis_key_prefix + "*")]
            if keys:
                await resources.redis.delete(*keys)


async def provision(resources: Resources, plan: str = "standard") -> BilledItem:
    spec = next(p for p in resources.catalogue if p.id.startswith(plan + "-"))
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await provision_stripe_customer(session, resources.stripe, unique_email(), spec)  # type: ignore[arg-type]
    assert provisioned.first_key is not None
    return BilledItem(
        item_id=provisioned.usage_item.id,
        period_start=provisioned.usage_item.current_period_start,
        api_key_id=provisioned.first_key.key.id,
        api_key_secret=provisioned.first_key.secret,
        stripe_customer_id=provisioned.customer.stripe_customer_id,
        event_name=spec.meter_event_name,
    )


async def provision_on_clock(resources: Resources, stripe_client: Any, clock_id: str) -> BilledItem:
    """A customer of the metered plan whose Stripe time is a test clock's."""
    from tests.webhooks.served import provision as provision_subscribed

    spec = next(p for p in resources.catalogue if p.id.startswith("standard-"))
    customer, _, secret = await provision_subscribed(resources, stripe_client, clock=clock_id, plan_id=spec.id)
    async with session_scope(resources.sessionmaker) as session:
        item = await session.scalar(
            select(SubscriptionItem).join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
            .where(Subscription.customer_id == customer.id, SubscriptionItem.kind == "metered"))
        key = await session.scalar(select(ApiKey).where(ApiKey.customer_id == customer.id))
    assert item is not None and key is not None
    return BilledItem(item.id, item.current_period_start, key.id, secret, customer.stripe_customer_id,
                      spec.meter_event_name)


async def serve(resources: Resources, item: BilledItem, units: int, *, at: datetime | None = None) -> None:
    """Units served, moved into Redis by a worker's tally (`UsageTally`) as the request path does."""
    at = at or datetime.now(UTC)
    tally = UsageTally(resources.redis, resources.settings.redis_key_prefix)
    tally.add(item.field, str(item.api_key_id), at.timestamp(), units)
    assert await tally.move_once() == units


async def period_counter(resources: Resources, item: BilledItem) -> int:
    """Redis's grow-only counter of the item's period."""
    key = resources.redis_key(redis_keys.period_totals_of(item.field))
    return int(await resources.redis.hget(key, item.field) or 0)  # type: ignore[misc]


async def unlink_from_stripe(resources: Resources, item: BilledItem) -> None:
    """The item's customer loses its Stripe customer id: its reports cannot be sent."""
    async with session_scope(resources.sessionmaker) as session:
        await session.execute(
            update(Customer).where(Customer.stripe_customer_id == item.stripe_customer_id)
            .values(stripe_customer_id=None))


def units_in_stripe(stripe_server: Any, item: BilledItem) -> int:
    """Counted by the Stripe server itself, not by our ledger."""
    assert item.event_name and item.stripe_customer_id
    return int(stripe_server.meter_event_total(item.event_name, item.stripe_customer_id))


async def reports_of(resources: Resources, *items: BilledItem) -> list[UsageReport]:
    async with session_scope(resources.sessionmaker) as session:
        rows = await session.scalars(
            select(UsageReport).where(UsageReport.subscription_item_id.in_([i.item_id for i in items]))
        )
        return list(rows)


async def settle(
    resources: Resources, *items: BilledItem, reporter: StripeMeterReporter | None = None,
    rounds: int = 40,
) -> list[FlushReport]:
    """Flush until nothing is left in Redis and no report of these items is pending (bounded)."""
    flushes = []
    for _ in range(rounds):
        flushes.append(await flush_once(resources, reporter))
        pending = [r for r in await reports_of(resources, *items) if r.state == ReportState.PENDING]
        changed = await counters.changed_count(resources.redis, resources.settings.redis_key_prefix)
        if not pending and not changed:
            return flushes
        await asyncio.sleep(0.15)
    raise AssertionError(f"usage did not settle in {rounds} flushes")
