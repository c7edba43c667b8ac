"""The account state machine: allowed moves, audit log, final revocation, ordering marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.accounts.service import (
    Freshness,
    change_state,
    freshness,
    mark_payment_failed,
    note_source,
)
from licensing_api.db import session_scope
from tests.webhooks.builders import audit_states, customer_row, linked_customer, set_state

T = datetime(2026, 11, 1, tzinfo=UTC)


async def move(resources, customer_id, to_state, **kwargs) -> bool:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        customer = await session.get(Customer, customer_id)
        return await change_state(session, resources, customer, to_state, reason="test",
                                  source="test", **kwargs)


async def test_transition_moves_the_state_and_writes_the_audit_log(resources):
    customer = await linked_customer(resources)
    assert await move(resources, customer.id, AccountState.SUSPENDED)
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
    assert (await audit_states(resources, customer.id))[-1] == ("active", "suspended")


async def test_transition_to_the_current_state_writes_nothing(resources):
    customer = await linked_customer(resources)
    before = await audit_states(resources, customer.id)
    assert not await move(resources, customer.id, AccountState.ACTIVE)
    assert await audit_states(resources, customer.id) == before


async def test_revoked_is_final(resources):
    customer = await linked_customer(resources)
    await set_state(resources, customer.id, AccountState.REVOKED)
    for target in (AccountState.ACTIVE, AccountState.PAST_DUE, AccountState.SUSPENDED):
        assert not await move(resources, customer.id, target)
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED


async def test_suspended_does_not_go_back_to_past_due(resources):
    customer = await linked_customer(resources)
    await set_state(resources, customer.id, AccountState.SUSPENDED)
    assert not await move(resources, customer.id, AccountState.PAST_DUE, grace_until=T)


async def test_payment_failure_grants_the_configured_grace_period(resources):
    customer = await linked_customer(resources)
    async with session_scope(resources.sessionmaker) as session:
        row = await session.get(Customer, customer.id)
        await mark_payment_failed(session, resources, row, failed_at=T, reason="test", source="test",
                                  now=T + timedelta(minutes=5))
    row = await customer_row(resources, customer.id)
    assert row.state == AccountState.PAST_DUE
    assert row.grace_until == T + timedelta(days=resources.settings.grace_period_days)


async def test_a_failure_learned_after_its_grace_period_suspends_without_a_past_deadline(resources):
    customer = await linked_customer(resources)
    grace = timedelta(days=resources.settings.grace_period_days)
    async with session_scope(resources.sessionmaker) as session:
        row = await session.get(Customer, customer.id)
        await mark_payment_failed(session, resources, row, failed_at=T, reason="test", source="test",
                                  now=T + grace)
    row = await customer_row(resources, customer.id)
    assert (row.state, row.grace_until) == (AccountState.SUSPENDED, None)
    assert (await audit_states(resources, customer.id))[-1] == ("active", "suspended")


async def test_leaving_past_due_clears_the_grace_deadline(resources):
    customer = await linked_customer(resources)
    await move(resources, customer.id, AccountState.PAST_DUE, grace_until=T)
    await move(resources, customer.id, AccountState.ACTIVE)
    assert (await customer_row(resources, customer.id)).grace_until is None


def test_freshness_compares_to_the_second():
    assert freshness(None, T) is Freshness.NEWER
    assert freshness(T, T + timedelta(seconds=1)) is Freshness.NEWER
    assert freshness(T, T) is Freshness.SAME
    assert freshness(T, T - timedelta(seconds=1)) is Freshness.OLDER


def test_ordering_mark_only_moves_forward():
    customer = Customer(email="x@example.com", state_source_at=T)
    note_source(customer, T - timedelta(days=1))
    assert customer.state_source_at == T
    note_source(customer, T + timedelta(days=1))
    assert customer.state_source_at == T + timedelta(days=1)
