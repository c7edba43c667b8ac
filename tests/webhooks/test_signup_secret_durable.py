"""A committed webhook is answered 2xx even when after-commit work fails, and the signup's
key secret, kept with the provisioning transaction, survives a Redis outage."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import select

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.db import session_scope
from licensing_api.signup.service import start_signup
from tests.observability.serving import free_port
from tests.webhooks.builders import unique
from tests.webhooks.served import PLAN, served_app, wait_for_deliveries


async def test_checkout_completed_while_redis_is_down_is_answered_200_and_the_key_is_shown_once(
    settings, synced, stripe_server, stripe_client
):
    redis_down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with served_app(redis_down, stripe_server) as served:
        async with session_scope(synced.sessionmaker) as session:
            started = await start_signup(session, synced, f"{unique('buyer')}@example.com", PLAN)
        await asyncio.to_thread(stripe_server.complete_checkout, started.checkout_session_id)
        deliveries = await asyncio.to_thread(wait_for_deliveries, stripe_server, served)
        completed = [d for d in deliveries if d["event_type"] == "checkout.session.completed"]
        assert [d["status"] for d in completed] == [200]  # committed: no 5xx, no retry

        checkout = stripe_client.v1.checkout.sessions.retrieve(started.checkout_session_id)
        async with session_scope(synced.sessionmaker) as session:
            customer = await session.scalar(
                select(Customer).where(Customer.stripe_customer_id == checkout.customer))
        assert customer is not None and customer.state == AccountState.ACTIVE

        async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
            page = await http.get("/signup/success", params={"session_id": started.checkout_session_id})
            assert page.status_code == 200
            secret = re.search(r'<pre id="api-key">(lk_[^<]+)</pre>', page.text)
            assert secret is not None, page.text
            again = await http.get("/signup/success", params={"session_id": started.checkout_session_id})
            assert "already shown" in again.text and secret.group(1) not in again.text
