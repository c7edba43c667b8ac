"""The grace period end to end, with a Stripe test clock and the real hot path:
payment fails → the key keeps working through the grace period → the grace check (its clock
injected past the deadline) suspends → 402 → payment succeeds → the key works again."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from licensing_api.accounts.grace import suspend_expired_grace
from licensing_api.accounts.models import AccountState
from tests.webhooks.builders import customer_row
from tests.webhooks.served import provision, wait_for_deliveries
from tests.stripe_server.helpers import advance_clock

CLOCK_START = int(datetime(2028, 1, 29, 12, tzinfo=UTC).timestamp())  # renews on Feb 29 (leap day)
RENEWAL = int(datetime(2028, 2, 29, 12, tzinfo=UTC).timestamp())
POLL_SECONDS = 0.05


async def content_status(http: httpx.AsyncClient, key: str) -> int:
    response = await http.get("/v1/content", headers={"Authorization": f"Bearer {key}"})
    return response.status_code


async def wait_for_status(http: httpx.AsyncClient, key: str, status: int, limit: float) -> float:
    """Seconds until `/v1/content` answers `status` (fails after `limit` seconds)."""
    started = time.monotonic()
    while (code := await content_status(http, key)) != status:
        assert time.monotonic() - started < limit, f"still {code} after {limit} s"
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - started


async def test_failed_payment_grace_then_402_then_payment_restores_access(
    served, synced, stripe_server, stripe_client
):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": CLOCK_START})
    customer, _, key = await provision(synced, stripe_client, clock=clock.id)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        assert await content_status(http, key) == 200

        stripe_client.v1.customers.update(customer.stripe_customer_id, {
            "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
        with stripe_server.configured(finalization_grace_seconds=0):  # charged at the renewal
            advance_clock(stripe_client, clock.id, RENEWAL + 60)
        wait_for_deliveries(stripe_server, served)
        failed = next(e for e in stripe_client.v1.events.list({"type": "invoice.payment_failed"}).data
                      if e.data.object.customer == customer.stripe_customer_id)
        row = await customer_row(synced, customer.id)
        deadline = datetime.fromtimestamp(failed.created, UTC) + timedelta(
            days=served.settings.grace_period_days)
        assert (row.state, row.grace_until) == (AccountState.PAST_DUE, deadline)
        assert await content_status(http, key) == 200  # within the grace period

        # (other tests' past-due customers in the shared database may be suspended too)
        assert customer.id not in await suspend_expired_grace(synced, now=deadline - timedelta(seconds=1))
        assert customer.id in await suspend_expired_grace(synced, now=deadline)
        await wait_for_status(http, key, 402, limit=5)
        assert (await customer_row(synced, customer.id)).state == AccountState.SUSPENDED

        card = stripe_client.v1.payment_methods.attach(
            "pm_card_visa", {"customer": customer.stripe_customer_id})
        paid_at = time.monotonic()
        stripe_client.v1.invoices.pay(failed.data.object.id, {"payment_method": card.id})
        await wait_for_status(http, key, 200, limit=5)
        assert time.monotonic() - paid_at < 5
    assert (await customer_row(synced, customer.id)).state == AccountState.ACTIVE
