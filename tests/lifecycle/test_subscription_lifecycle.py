"""The whole lifecycle over four billing periods, as a crawler and Stripe live it.

The service runs under uvicorn; Stripe is the local server, driving time with a test clock
and delivering its own signed webhooks over HTTP; usage is served over HTTP and reported by
the service's flusher. At every invoice Stripe's amount equals the service's own estimate to
the cent, and the units on Stripe's meters (counted on the Stripe side) equal the units
served in each period:

subscribe → usage → upgrade `now` mid-period → renewal → downgrade at `period_end` →
renewal → payment fails (the key works through the grace) → paid → a refund of an
unrelated charge (no effect) → a refund of a licensing invoice (revoked, the Stripe
subscription canceled) → reinstate.

The clock starts on Jan 31 of a leap year: periods end on Feb 29, Mar 31, Apr 30. It stands
ahead of the wall clock, so the service, which runs on the wall clock, reports each unit at
its period's start (`usage.ledger.meter_event_time`), inside the period Stripe bills.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensing_api.accounts.models import AccountState
from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.plans import PlanCatalogue, load_catalogue
from licensing_api.billing.pricing import tiered_amount
from licensing_api.billing.provisioning import record_stripe_subscription
from licensing_api.billing.service import subscription_items, synced_plan
from licensing_api.db import session_scope
from licensing_api.resources import Resources, open_resources
from licensing_api.settings import Settings, load_settings
from licensing_api.usage.flusher import flush_once
from tests.support import infra
from tests.support.browser import running_service
from tests.stripe_server.helpers import advance_clock
from tests.webhooks.builders import customer_row, subscription_row

JAN_31 = int(datetime(2096, 1, 31, 12, tzinfo=UTC).timestamp())
FEB_29 = int(datetime(2096, 2, 29, 12, tzinfo=UTC).timestamp())
MAR_31 = int(datetime(2096, 3, 31, 12, tzinfo=UTC).timestamp())
APR_30 = int(datetime(2096, 4, 30, 12, tzinfo=UTC).timestamp())
DAY = 86400
FINALIZED = 3600 + 60  # past Stripe's default one-hour finalization grace of a cycle invoice
ITEM = "/v1/content/repairing-a-bicycle-chain"
ADMIN_TOKEN = "lifecycle-admin-token-0123456789abcdef"
INVALIDATION_SECONDS = 0.3  # a worker hears an invalidation within this (pub/sub)
TALLY_MOVED_SECONDS = 0.4  # a worker moves its tally into Redis every 200 ms

# Small allowances so a few dozen requests cross them; 0.5 and 0.25 cents exercise rounding.
PLANS_TOML = """
[plans.lite-{s}]
name = "Lite"
kind = "hybrid"
currency = "usd"
interval = "month"
base_amount = 1000
included_units = 5
unit_amount_decimal = "0.5"

[plans.pro-{s}]
name = "Pro"
kind = "hybrid"
currency = "usd"
interval = "month"
base_amount = 5000
included_units = 10
unit_amount_decimal = "0.25"
"""


@dataclass
class World:
    settings: Settings
    resources: Resources  # the test's own view: database, Redis, the service's Stripe client
    catalogue: PlanCatalogue
    url: str
    endpoint_id: str
    lite: str
    pro: str


@pytest.fixture
def plans_file(tmp_path: Path) -> tuple[Path, str]:
    suffix = uuid.uuid4().hex[:8]
    path = tmp_path / "lifecycle-plans.toml"
    path.write_text(PLANS_TOML.format(s=suffix))
    return path, suffix


@pytest.fixture
async def world(database_url, redis_prefix, stripe_server, plans_file) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    path, suffix = plans_file
    client = stripe_server.stripe_client()
    endpoint: dict[str, Any] = {}

    def settings_for(base_url: str) -> Settings:
        created = client.v1.webhook_endpoints.create(
            {"url": f"{base_url}/webhooks/stripe", "enabled_events": ["*"]})
        endpoint["id"] = created.id
        endpoint["settings"] = load_settings(
            database_url=database_url, redis_url=infra.TEST_REDIS_URL,
            redis_key_prefix=f"{redis_prefix}life-{suffix}:", plans_file=path,
            stripe_api_key=stripe_server.api_key, stripe_api_base=stripe_server.url,
            stripe_webhook_secret=created.secret, admin_token=ADMIN_TOKEN,
            session_secret="lifecycle-session-secret-0123456789abcdef",
            usage_flush_interval_seconds=3600,  # the test flushes, at the moments it chooses
            grace_check_interval_seconds=0.2, public_base_url=base_url, _env_file=None)
        return endpoint["settings"]  # type: ignore[no-any-return]

    with running_service(settings_for) as base_url:
        settings = endpoint["settings"]
        catalogue = load_catalogue(path)
        async with open_resources(settings, catalogue) as resources:
            assert resources.stripe is not None
            await sync_catalogue(resources, resources.stripe)
            yield World(settings, resources, catalogue, base_url, endpoint["id"],
                        f"lite-{suffix}", f"pro-{suffix}")
    client.v1.webhook_endpoints.delete(endpoint["id"])


class Crawler:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {key}"}

    async def serve(self, count: int) -> None:
        for _ in range(count):
            response = await self.http.get(ITEM, headers=self.headers)
            assert response.status_code == 200, response.text

    async def status(self) -> int:
        return (await self.http.get(ITEM, headers=self.headers)).status_code

    async def usage(self) -> dict[str, Any]:
        response = await self.http.get("/v1/usage", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def change_plan(self, plan: str, when: str) -> dict[str, Any]:
        response = await self.http.post("/v1/subscription/plan", json={"plan": plan, "when": when},
                                        headers=self.headers)
        assert response.status_code == 200, response.text
        await asyncio.sleep(INVALIDATION_SECONDS)
        return response.json()  # type: ignore[no-any-return]


async def settle(stripe_server, world: World) -> None:  # type: ignore[no-untyped-def]
    """Every webhook delivered, and those its handlers caused too; then caches dropped."""
    for _ in range(2):
        deliveries = await asyncio.to_thread(stripe_server.deliveries, 15)
        mine = [d for d in deliveries if d["endpoint_id"] == world.endpoint_id]
        assert all(d["status"] == 200 for d in mine[-20:]), [d for d in mine if d["status"] != 200]
        await asyncio.sleep(INVALIDATION_SECONDS)


async def advance(stripe_client, stripe_server, world: World, clock_id: str, to: int) -> None:  # type: ignore[no-untyped-def]
    await asyncio.to_thread(advance_clock, stripe_client, clock_id, to)
    await settle(stripe_server, world)


async def flush(world: World) -> None:
    await asyncio.sleep(TALLY_MOVED_SECONDS)
    report = await flush_once(world.resources)
    assert not report.failed and not report.retrying, (report.failed, report.retrying)


def latest_invoice(stripe_client, subscription_id: str, reason: str):  # type: ignore[no-untyped-def]
    invoice = stripe_client.v1.invoices.list({"subscription": subscription_id}).data[0]
    assert invoice.billing_reason == reason
    return invoice


def meter_units(stripe_server, world: World, plan: str, customer: str, start: int, end: int) -> int:  # type: ignore[no-untyped-def]
    spec = world.catalogue.get(plan)
    return int(stripe_server.meter_event_total(spec.meter_event_name, customer, start, end))


async def subscribe(world: World, stripe_client, clock_id: str) -> tuple[Any, str, str]:  # type: ignore[no-untyped-def]
    """A customer paying Lite by card, provisioned the way `customers create` records it."""
    spec = world.catalogue.get(world.lite)
    async with session_scope(world.resources.sessionmaker) as session:
        items = subscription_items(await synced_plan(session, spec))
    email = f"life-{uuid.uuid4().hex[:8]}@example.com"
    stripe_customer = stripe_client.v1.customers.create({
        "email": email, "test_clock": clock_id,
        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    subscription = stripe_client.v1.subscriptions.create({"customer": stripe_customer.id, "items": items})
    async with session_scope(world.resources.sessionmaker) as session:
        provisioned = await record_stripe_subscription(session, spec, email, subscription, "test")
    return provisioned.customer, subscription.id, provisioned.first_key.secret  # type: ignore[union-attr]


@pytest.mark.slow
async def test_money_stays_right_through_the_whole_lifecycle(world, stripe_server, stripe_client):
    lite, pro = world.catalogue.get(world.lite), world.catalogue.get(world.pro)
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": JAN_31})
    customer, subscription_id, key = await subscribe(world, stripe_client, clock.id)
    cus = customer.stripe_customer_id
    await settle(stripe_server, world)
    first = latest_invoice(stripe_client, subscription_id, "subscription_create")
    assert first.total == lite.base_amount

    async with httpx.AsyncClient(base_url=world.url, timeout=20) as http:
        crawler = Crawler(http, key)

        # Period 1 (Jan 31 – Feb 29): 8 units on Lite, upgrade to Pro now, 13 units on Pro.
        await advance(stripe_client, stripe_server, world, clock.id, JAN_31 + DAY)
        await crawler.serve(8)
        await flush(world)
        upgrade_at = JAN_31 + 10 * DAY + 3600
        await advance(stripe_client, stripe_server, world, clock.id, upgrade_at)
        upgraded = await crawler.change_plan(world.pro, "now")
        await settle(stripe_server, world)
        upgrade_invoice = latest_invoice(stripe_client, subscription_id, "subscription_update")
        assert upgrade_invoice.total == upgraded["invoice_now"]["total"]
        assert upgraded["invoice_now"]["proration_date"] == datetime.fromtimestamp(upgrade_at, UTC).isoformat().replace("+00:00", "Z")
        await crawler.serve(13)
        await flush(world)
        estimate = (await crawler.usage())["next_invoice_amount"]
        assert estimate == tiered_amount(lite.tiers, 8) + tiered_amount(pro.tiers, 13) + pro.base_amount
        await advance(stripe_client, stripe_server, world, clock.id, FEB_29 + FINALIZED)
        assert latest_invoice(stripe_client, subscription_id, "subscription_cycle").total == estimate
        assert meter_units(stripe_server, world, world.lite, cus, JAN_31, upgrade_at) == 8
        assert meter_units(stripe_server, world, world.pro, cus, upgrade_at, FEB_29) == 13
        assert meter_units(stripe_server, world, world.lite, cus, upgrade_at, FEB_29) == 0

        # Period 2 (Feb 29 – Mar 31): 12 units on Pro, downgrade to Lite at the period end.
        await crawler.serve(12)
        await flush(world)
        scheduled = await crawler.change_plan(world.lite, "period_end")
        assert scheduled["scheduled"] is True
        usage = await crawler.usage()
        assert usage["plan_id"] == world.pro and usage["scheduled_change"]["plan_id"] == world.lite
        estimate = usage["next_invoice_amount"]
        assert estimate == tiered_amount(pro.tiers, 12) + lite.base_amount
        await advance(stripe_client, stripe_server, world, clock.id, MAR_31 + FINALIZED)
        assert latest_invoice(stripe_client, subscription_id, "subscription_cycle").total == estimate
        assert meter_units(stripe_server, world, world.pro, cus, FEB_29, MAR_31) == 12
        assert meter_units(stripe_server, world, world.lite, cus, FEB_29, MAR_31) == 0
        assert (await crawler.usage())["plan_id"] == world.lite

        # Period 3 (Mar 31 – Apr 30): 6 units on Lite; the renewal's payment fails.
        await crawler.serve(6)
        await flush(world)
        estimate = (await crawler.usage())["next_invoice_amount"]
        assert estimate == tiered_amount(lite.tiers, 6) + lite.base_amount
        stripe_client.v1.customers.update(cus, {"invoice_settings": {
            "default_payment_method": "pm_card_chargeCustomerFail"}})
        await advance(stripe_client, stripe_server, world, clock.id, APR_30 + FINALIZED)
        failed = latest_invoice(stripe_client, subscription_id, "subscription_cycle")
        assert failed.total == estimate and failed.status == "open"
        assert meter_units(stripe_server, world, world.lite, cus, MAR_31, APR_30) == 6
        row = await customer_row(world.resources, customer.id)
        assert row.state == AccountState.PAST_DUE and row.grace_until > datetime.now(UTC)
        assert await crawler.status() == 200  # the key works through the grace period

        card = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": cus})
        stripe_client.v1.customers.update(cus, {"invoice_settings": {"default_payment_method": card.id}})
        stripe_client.v1.invoices.pay(failed.id)
        await settle(stripe_server, world)
        assert (await customer_row(world.resources, customer.id)).state == AccountState.ACTIVE

        # Period 4: a refund of a charge that is not the license's changes nothing.
        one_off = stripe_client.v1.payment_intents.create({
            "customer": cus, "amount": 2500, "currency": "usd", "payment_method": card.id,
            "confirm": True, "description": "a printed report"})
        stripe_client.v1.refunds.create({"payment_intent": one_off.id})
        await settle(stripe_server, world)
        assert (await customer_row(world.resources, customer.id)).state == AccountState.ACTIVE
        assert await crawler.status() == 200

        # A refund of the licensing invoice: revoked, and Stripe stops billing.
        licensing_charge = stripe_client.v1.charges.list({"customer": cus}).data[1]
        assert licensing_charge.payment_intent != one_off.id and licensing_charge.paid
        stripe_client.v1.refunds.create({"charge": licensing_charge.id})
        await settle(stripe_server, world)
        assert (await customer_row(world.resources, customer.id)).state == AccountState.REVOKED
        assert stripe_client.v1.subscriptions.retrieve(subscription_id).status == "canceled"
        assert await crawler.status() == 403

        # An operator reinstates: a new subscription on the same plan, the key works again.
        reinstated = await http.post(f"/admin/customers/{customer.id}/reinstate",
                                     json={"reason": "refund made in error"},
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert reinstated.status_code == 200, reinstated.text
        new_subscription = reinstated.json()["subscription"]["stripe_subscription_id"]
        await settle(stripe_server, world)
        assert latest_invoice(stripe_client, new_subscription, "subscription_create").total == lite.base_amount
        assert (await subscription_row(world.resources, new_subscription)).plan_id == world.lite
        assert await crawler.status() == 200
