"""The grace-period check: suspends expired past-due customers once, with no event."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from asgi_lifespan import LifespanManager

from licensing_api.accounts.grace import suspend_expired_grace
from licensing_api.accounts.models import AccountState
from licensing_api.db import utcnow
from licensing_api.main import create_app
from tests.webhooks.builders import audit_states, customer_row, linked_customer, set_state


async def past_due_customer(resources, grace_left: timedelta):  # type: ignore[no-untyped-def]
    customer = await linked_customer(resources)
    await set_state(resources, customer.id, AccountState.PAST_DUE, grace_until=utcnow() + grace_left)
    return customer


async def test_expired_grace_suspends_and_unexpired_grace_does_not(resources):
    expired = await past_due_customer(resources, timedelta(seconds=-1))
    running = await past_due_customer(resources, timedelta(days=1))
    suspended = await suspend_expired_grace(resources)
    assert expired.id in suspended and running.id not in suspended
    assert (await customer_row(resources, expired.id)).state == AccountState.SUSPENDED
    assert (await customer_row(resources, running.id)).state == AccountState.PAST_DUE
    assert (await audit_states(resources, expired.id))[-1] == ("past_due", "suspended")


async def test_concurrent_checks_suspend_each_customer_once(resources):
    customer = await past_due_customer(resources, timedelta(seconds=-1))
    first, second = await asyncio.gather(
        suspend_expired_grace(resources), suspend_expired_grace(resources))
    assert (first + second).count(customer.id) == 1
    assert [t for t in await audit_states(resources, customer.id)
            if t == ("past_due", "suspended")] == [("past_due", "suspended")]


async def test_check_sends_the_suspension_notice(resources, caplog):
    customer = await past_due_customer(resources, timedelta(seconds=-1))
    with caplog.at_level("INFO", logger="licensing_api.accounts.notifier"):
        await suspend_expired_grace(resources)
    assert any(r.getMessage() == "account_notice" and r.customer_id == str(customer.id)
               and r.notice == "suspended" for r in caplog.records)


async def test_app_runs_the_check_in_the_background(settings, resources):
    customer = await past_due_customer(resources, timedelta(seconds=-1))
    app = create_app(settings.model_copy(update={"grace_check_interval_seconds": 0.05}))
    async with LifespanManager(app):
        for _ in range(100):
            if (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED:
                break
            await asyncio.sleep(0.05)
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
