"""The embedded default (SQLite, in-process Redis) records events once as well."""

from __future__ import annotations

import asyncio

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.accounts.models import AccountState
from licensing_api.main import create_app
from licensing_api.settings import load_settings
from tests.support import infra
from tests.webhooks.builders import (
    T0,
    WEBHOOK_SECRET,
    customer_row,
    deliver,
    event,
    invoice_for,
    linked_customer,
)


async def test_sqlite_records_an_event_once_with_its_effect(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'licensing.db'}"
    await asyncio.to_thread(infra.migrate, url)
    app = create_app(load_settings(database_url=url, stripe_webhook_secret=WEBHOOK_SECRET,
                                   _env_file=None))
    async with LifespanManager(app) as manager:
        resources = manager._state["resources"]
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            customer = await linked_customer(resources)
            failed = event("invoice.payment_failed", invoice_for(customer), T0)
            outcomes = [(await deliver(http, failed)).json()["outcome"] for _ in range(2)]
            assert outcomes == ["applied", "duplicate"]
            assert (await customer_row(resources, customer.id)).state == AccountState.PAST_DUE
