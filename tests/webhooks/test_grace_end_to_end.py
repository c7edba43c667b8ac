"""The grace period end to end, with a Stripe test clock and the real hot path:
payment fails → the key keeps working until the grace deadline → 402 → payment succeeds →
the key works again within one second."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from licensing_api.accounts.models import AccountState
from tests.stripe_server.billing import add_interval
from tests.webhooks.builders import customer_row
from tests.webhooks.served import provision, wait_for_deliveries
from tests.stripe_server.helpers import advance_clock

GRACE_LEFT_SECONDS = 10  # wall-clock time between the failed payment's deadline and now
POLL_SECONDS = 0.05


def clock_start_for_renewal_at(renewal: int) -> int:
    """A frozen time whose monthly subscription renews exactly at `renewal`."""
    start = renewal - 31 * 86400
    for _ in range(5):
        start += renewal - add_interval(start, "month", 1, start)
    assert add_interval(start, "month", 1, start) == renewal
    return start


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
    grace_days = served.settings.grace_period_days
    renewal = int(time.time()) + GRACE_LEFT_SECONDS - grace_days * 86400
    clock = stripe_client.v1.test_helpers.test_clocks.create(
        {"frozen_time": clock_start_for_renewal_at(renewal)})
    customer, _, key = await provision(synced, stripe_client, clock=clock.id)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        assert await content_status(http, key) == 200

        stripe_client.v1.customers.update(customer.stripe_customer_id, {
            "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
        with stripe_server.configured(finalization_grace_seconds=0):  # charged at the renewal
            advance_clock(stripe_client, clock.id, renewal + 60)
        wait_for_deliveries(stripe_server, served)
        row = await customer_row(synced, customer.id)
        deadline = datetime.fromtimestamp(renewal, UTC) + timedelta(days=grace_days)
        assert (row.state, row.grace_until) == (AccountState.PAST_DUE, deadline)
        assert time.time() < deadline.timestamp()
        assert await content_status(http, key) == 200  # within the grace period

        await wait_for_status(http, key, 402, limit=GRACE_LEFT_SECONDS + 10)
        assert time.time() >= deadline.timestamp()
        for _ in range(100):  # the grace check suspends the account without any event
            if (await customer_row(synced, customer.id)).state == AccountState.SUSPENDED:
                break
            await asyncio.sleep(POLL_SECONDS)
        assert (await customer_row(synced, customer.id)).state == AccountState.SUSPENDED

        failed = stripe_client.v1.events.list({"type": "invoice.payment_failed"}).data
        invoice_id = next(e.data.object.id for e in failed
                          if e.data.object.customer == customer.stripe_customer_id)
        card = stripe_client.v1.payment_methods.attach(
            "pm_card_visa", {"customer": customer.stripe_customer_id})
        paid_at = time.monotonic()
        stripe_client.v1.invoices.pay(invoice_id, {"payment_method": card.id})
        await wait_for_status(http, key, 200, limit=5)
        assert time.monotonic() - paid_at < 1.0
    assert (await customer_row(synced, customer.id)).state == AccountState.ACTIVE
