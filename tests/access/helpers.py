"""Arranging crawlers for request-path tests: customers, keys, account states."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from licensing_api.access.invalidation import publish_invalidation
from licensing_api.accounts.models import Customer
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from licensing_api.keys.service import create_key
from licensing_api.resources import Resources
from licensing_api.usage.redis_keys import item_period_field, period_totals_of


@dataclass(frozen=True)
class Crawler:
    customer_id: uuid.UUID
    key_id: uuid.UUID
    secret: str
    usage_item_id: uuid.UUID
    period_start: datetime

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    @property
    def period_field(self) -> str:
        return item_period_field(self.usage_item_id, self.period_start)


async def new_crawler(resources: Resources, plan: str = "premium") -> Crawler:
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await provision_local_customer(
            session, f"{uuid.uuid4().hex[:10]}@example.com", resources.catalogue.get(plan)
        )
    return Crawler(
        customer_id=provisioned.customer.id,
        key_id=provisioned.first_key.key.id,
        secret=provisioned.first_key.secret,
        usage_item_id=provisioned.usage_item.id,
        period_start=provisioned.usage_item.current_period_start,
    )


async def another_key(resources: Resources, crawler: Crawler) -> Crawler:
    async with session_scope(resources.sessionmaker) as session:
        new_key = await create_key(session, crawler.customer_id, name="second")
    return Crawler(
        crawler.customer_id, new_key.key.id, new_key.secret, crawler.usage_item_id, crawler.period_start
    )


async def set_account_state(
    resources: Resources, customer_id: uuid.UUID, state: str, grace_until: datetime | None = None
) -> None:
    """What the webhook state machine does, reduced to the row change and the invalidation."""
    async with session_scope(resources.sessionmaker) as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(state=state, grace_until=grace_until)
        )
    await publish_invalidation(
        resources.redis, resources.settings.redis_key_prefix, customer_id=customer_id
    )


async def period_total(resources: Resources, crawler: Crawler) -> int:
    raw = await resources.redis.hget(
        resources.redis_key(period_totals_of(crawler.period_field)), crawler.period_field
    )
    return int(raw or 0)
