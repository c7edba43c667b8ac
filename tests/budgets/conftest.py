"""Budget tests: the bundled plans plus a tiered plan without a rate limit, a 3-unit path,
and periods on fixed dates (the guard's clock is injected: nothing depends on today)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import update

from licensing_api.access.invalidation import publish_invalidation
from licensing_api.access.runtime import HotPath
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.resources import Resources
from licensing_api.settings import BUNDLED_PLANS_FILE, Settings
from tests.access.helpers import Crawler, new_crawler

# Bill: 10.00 base; units 1-10 free, 11-20 at 0.10, then 0.25 each (USD cents below).
BUDGET_PLANS = """
[plans.tiered]
name = "Tiered"
kind = "hybrid"
currency = "usd"
base_amount = 1000

[[plans.tiered.tiers]]
up_to = 10
unit_amount_decimal = "0"

[[plans.tiered.tiers]]
up_to = 20
unit_amount_decimal = "10"

[[plans.tiered.tiers]]
up_to = "inf"
unit_amount_decimal = "25"

[plans.tenth]
name = "A tenth of a cent"
kind = "metered"
currency = "usd"
unit_amount_decimal = "0.1"

[[price_rules]]
path = "/v1/content/science/*"
units = 3
"""

PERIOD_START = datetime(2031, 3, 1, tzinfo=UTC)
PERIOD_END = datetime(2031, 4, 1, tzinfo=UTC)
IN_PERIOD = datetime(2031, 3, 10, tzinfo=UTC)
NEXT_PERIOD = datetime(2031, 4, 2, tzinfo=UTC)
ONE_UNIT = "/v1/content/sourdough-chemistry"
THREE_UNITS = "/v1/content/science/tide-pools"


@dataclass
class Api:
    client: AsyncClient
    resources: Resources
    hot_path: HotPath
    clock: list[float]  # the guard's clock: clock[0] is now (Unix seconds)

    def set_now(self, moment: datetime) -> None:
        self.clock[0] = moment.timestamp()


@pytest.fixture
async def api(settings: Settings, tmp_path: Path) -> AsyncIterator[Api]:
    plans = tmp_path / "plans.toml"
    plans.write_text(BUNDLED_PLANS_FILE.read_text() + BUDGET_PLANS)
    # The lifespan's own budget checks stay out of the way: the tests run them with their clock.
    app = create_app(settings.model_copy(update={"plans_file": plans, "budget_check_interval_seconds": 86400}))
    async with LifespanManager(app) as manager:
        state = manager._state  # type: ignore[attr-defined]
        hot_path: HotPath = state["hot_path"]
        clock = [IN_PERIOD.timestamp()]
        hot_path.guard.clock = lambda: clock[0]
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, state["resources"], hot_path, clock)


async def crawler_in_fixed_period(resources: Resources, plan: str = "tiered") -> Crawler:
    """A local customer whose current period is March 2031 (billing anchored on the 1st)."""
    crawler = await new_crawler(resources, plan)
    async with session_scope(resources.sessionmaker) as session:
        subscription_id = await session.scalar(
            update(SubscriptionItem).where(SubscriptionItem.id == crawler.usage_item_id)
            .values(current_period_start=PERIOD_START, current_period_end=PERIOD_END)
            .returning(SubscriptionItem.subscription_id))
        await session.execute(
            update(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription_id)
            .values(current_period_start=PERIOD_START, current_period_end=PERIOD_END))
        await session.execute(
            update(Subscription).where(Subscription.id == subscription_id)
            .values(current_period_start=PERIOD_START, current_period_end=PERIOD_END,
                    billing_anchor=PERIOD_START))
    await publish_invalidation(resources.redis, resources.settings.redis_key_prefix,
                               customer_id=crawler.customer_id)
    return Crawler(crawler.customer_id, crawler.key_id, crawler.secret, crawler.usage_item_id, PERIOD_START)


def unique_email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"
