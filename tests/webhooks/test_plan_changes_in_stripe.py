"""Plan changes with billing on, over HTTP with Stripe's own signed deliveries and test clocks:
the API's `now` (its invoice equals the service's estimate to the cent), `period_end` (a
subscription schedule), a change made in Stripe (mirrored), cancellation at the period end,
and an operator's reinstatement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from licensing_api.accounts.models import AccountState
from licensing_api.billing.models import Plan, SubscriptionItem
from licensing_api.db import session_scope
from licensing_api.usage.redis_keys import item_period_field, period_totals_of
from tests.stripe_server.helpers import advance_clock
from tests.webhooks.builders import customer_row, subscription_row
from tests.webhooks.served import provision, wait_for_deliveries

CLOCK_START = int(datetime(2027, 1, 31, 12, tzinfo=UTC).timestamp())  # a month end
DAY = 86400
ITEM = "/v1/content/repairing-a-bicycle-chain"


async def settle(stripe_server, served) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every delivery so far, once none is in flight (a handler may cause more)."""
    await asyncio.to_thread(wait_for_deliveries, stripe_server, served)
    await asyncio.sleep(0.2)
    return await asyncio.to_thread(wait_for_deliveries, stripe_server, served)


async def advance(stripe_client, stripe_server, served, clock_id: str, to: int) -> None:  # type: ignore[no-untyped-def]
    await asyncio.to_thread(advance_clock, stripe_client, clock_id, to)
    await settle(stripe_server, served)


async def plan_row(resources, plan_id: str) -> Plan:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        return await session.get(Plan, plan_id)


async def local_items(resources, subscription_id: str) -> list[SubscriptionItem]:  # type: ignore[no-untyped-def]
    row = await subscription_row(resources, subscription_id)
    async with session_scope(resources.sessionmaker) as session:
        return list(await session.scalars(select(SubscriptionItem).where(
            SubscriptionItem.subscription_id == row.id).order_by(SubscriptionItem.created_at)))


def stripe_prices(stripe_client, subscription_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    subscription = stripe_client.v1.subscriptions.retrieve(subscription_id)
    return {item.price.id for item in subscription["items"].data}


async def test_an_upgrade_now_is_invoiced_as_estimated_and_the_old_meter_is_retired_at_renewal(
    served, synced, stripe_server, stripe_client
):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": CLOCK_START})
    customer, subscription_id, key = await provision(synced, stripe_client, clock=clock.id)
    await advance(stripe_client, stripe_server, served, clock.id, CLOCK_START + 10 * DAY + 4321)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
        response = await http.post("/v1/subscription/plan", json={"plan": "premium", "when": "now"},
                                   headers=headers)
        assert response.status_code == 200, response.text
        estimate = response.json()["invoice_now"]
        await settle(stripe_server, served)
        usage = (await http.get("/v1/usage", headers=headers)).json()
    invoice = stripe_client.v1.invoices.list({"subscription": subscription_id}).data[0]
    assert invoice.billing_reason == "subscription_update"
    assert invoice.total == estimate["total"] > 0 and invoice.status == "paid"
    assert sorted(line.amount for line in invoice.lines.data) == sorted(line["amount"] for line in estimate["lines"])
    standard, premium = await plan_row(synced, "standard"), await plan_row(synced, "premium")
    assert stripe_prices(stripe_client, subscription_id) == {
        premium.stripe_base_price_id, premium.stripe_metered_price_id, standard.stripe_metered_price_id}
    assert (await subscription_row(synced, subscription_id)).plan_id == "premium"
    metered = {i.meter_event_name: i for i in await local_items(synced, subscription_id) if i.kind == "metered"}
    assert metered["licensed_requests.standard"].ended_at is not None
    assert metered["licensed_requests.premium"].ended_at is None
    assert usage["plan_id"] == "premium" and usage["next_invoice_amount"] == premium.base_amount

    period_end = int((await subscription_row(synced, subscription_id)).current_period_end.timestamp())
    await advance(stripe_client, stripe_server, served, clock.id, period_end + 60)
    renewal = stripe_client.v1.invoices.list({"subscription": subscription_id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.total == usage["next_invoice_amount"]
    assert stripe_prices(stripe_client, subscription_id) == {
        premium.stripe_base_price_id, premium.stripe_metered_price_id}
    assert (await customer_row(synced, customer.id)).state == AccountState.ACTIVE


async def test_a_change_made_in_stripe_is_mirrored_and_later_units_count_on_the_new_item(
    served, synced, stripe_server, stripe_client
):
    _, subscription_id, key = await provision(synced, stripe_client)
    standard, premium = await plan_row(synced, "standard"), await plan_row(synced, "premium")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
        assert (await http.get(ITEM, headers=headers)).status_code == 200  # the record is cached
        items = stripe_client.v1.subscriptions.retrieve(subscription_id)["items"].data
        by_price = {item.price.id: item.id for item in items}
        stripe_client.v1.subscriptions.update(subscription_id, {"items": [  # as the Dashboard does
            {"id": by_price[standard.stripe_base_price_id], "price": premium.stripe_base_price_id},
            {"id": by_price[standard.stripe_metered_price_id], "price": premium.stripe_metered_price_id},
        ]})
        await settle(stripe_server, served)
        await asyncio.sleep(0.2)  # the served worker hears the invalidation
        assert (await http.get(ITEM, headers=headers)).status_code == 200
        usage = (await http.get("/v1/usage", headers=headers)).json()
    assert (await subscription_row(synced, subscription_id)).plan_id == "premium"
    rows = await local_items(synced, subscription_id)
    old = next(i for i in rows if i.meter_event_name == "licensed_requests.standard")
    new = next(i for i in rows if i.meter_event_name == "licensed_requests.premium")
    assert old.ended_at is not None and new.ended_at is None
    assert new.stripe_subscription_item_id == by_price[standard.stripe_metered_price_id]
    assert (usage["plan_id"], usage["included_units"]) == ("premium", 100_000)
    def period_total(item):  # type: ignore[no-untyped-def]
        field = item_period_field(item.id, item.current_period_start)
        return synced.redis.hget(synced.redis_key(period_totals_of(field)), field)

    for _ in range(40):  # the worker's tally reaches Redis
        if await period_total(new):
            break
        await asyncio.sleep(0.05)
    totals = [await period_total(i) for i in (old, new)]
    assert totals == [b"1", b"1"]


async def test_a_change_at_the_period_end_is_a_schedule_and_is_billed_as_estimated(
    served, synced, stripe_server, stripe_client
):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": CLOCK_START})
    _, subscription_id, key = await provision(synced, stripe_client, clock=clock.id)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
        response = await http.post("/v1/subscription/plan", json={"plan": "premium"}, headers=headers)
        assert response.status_code == 200, response.text
        await settle(stripe_server, served)
        before = (await http.get("/v1/usage", headers=headers)).json()
        assert before["plan_id"] == "standard"
        assert before["scheduled_change"]["plan_id"] == "premium"
        assert before["scheduled_change"]["effective_at"] == before["period_end"]
        schedule = stripe_client.v1.subscriptions.retrieve(subscription_id).schedule
        assert schedule is not None
        period_end = int((await subscription_row(synced, subscription_id)).current_period_end.timestamp())
        await advance(stripe_client, stripe_server, served, clock.id, period_end + 60)
        after = (await http.get("/v1/usage", headers=headers)).json()
    renewal = stripe_client.v1.invoices.list({"subscription": subscription_id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.total == before["next_invoice_amount"]
    assert (after["plan_id"], after["scheduled_change"]) == ("premium", None)
    premium = await plan_row(synced, "premium")
    assert stripe_prices(stripe_client, subscription_id) == {
        premium.stripe_base_price_id, premium.stripe_metered_price_id}


async def test_cancel_at_period_end_keeps_access_until_the_end_then_revokes(
    served, synced, stripe_server, stripe_client
):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": CLOCK_START})
    customer, subscription_id, key = await provision(synced, stripe_client, clock=clock.id)
    headers = {"Authorization": f"Bearer {key}"}
    stripe_client.v1.subscriptions.update(subscription_id, {"cancel_at_period_end": True})
    await settle(stripe_server, served)
    row = await subscription_row(synced, subscription_id)
    assert row.cancel_at == row.current_period_end
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
        assert (await http.get(ITEM, headers=headers)).status_code == 200
        usage = (await http.get("/v1/usage", headers=headers)).json()
        assert usage["ends_at"] == usage["period_end"] and usage["next_invoice_amount"] == 0
        await advance(stripe_client, stripe_server, served, clock.id, int(row.current_period_end.timestamp()) + 60)
        for _ in range(40):
            status = (await http.get(ITEM, headers=headers)).status_code
            if status == 403:
                break
            await asyncio.sleep(0.05)
    assert status == 403
    assert (await customer_row(synced, customer.id)).state == AccountState.REVOKED


async def test_an_operator_reinstates_a_refunded_account_with_a_new_subscription(
    served, synced, stripe_server, stripe_client
):
    customer, subscription_id, key = await provision(synced, stripe_client)
    charge = stripe_client.v1.charges.list({"customer": customer.stripe_customer_id}).data[0]
    stripe_client.v1.refunds.create({"charge": charge.id})
    await settle(stripe_server, served)
    assert (await customer_row(synced, customer.id)).state == AccountState.REVOKED
    assert stripe_client.v1.subscriptions.retrieve(subscription_id).status == "canceled"
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
        refused = await http.post(f"/admin/customers/{customer.id}/state",
                                  json={"state": "active", "reason": "try"}, headers=served_admin(served))
        assert refused.status_code == 409  # the state API keeps revocation final
        done = await http.post(f"/admin/customers/{customer.id}/reinstate",
                               json={"reason": "refund was a mistake"}, headers=served_admin(served))
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["new_subscription"] is True and body["customer"]["state"] == "active"
        new_id = body["subscription"]["stripe_subscription_id"]
        assert new_id != subscription_id and stripe_client.v1.subscriptions.retrieve(new_id).status == "active"
        await settle(stripe_server, served)
        for _ in range(40):
            served_status = (await http.get(ITEM, headers={"Authorization": f"Bearer {key}"})).status_code
            if served_status == 200:
                break
            await asyncio.sleep(0.05)
    assert served_status == 200
    assert (await customer_row(synced, customer.id)).state == AccountState.ACTIVE


def served_admin(served) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {served.settings.admin_token.get_secret_value()}"}
