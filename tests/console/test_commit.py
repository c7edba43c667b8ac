"""Console writes commit before the answer: a failed COMMIT is a 503 page, never a redirect."""

from __future__ import annotations

from sqlalchemy import func, select

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from tests.support.commit_faults import failing_commit


async def test_a_suspension_whose_commit_fails_is_answered_503_and_nothing_changes(console, database_url):
    provisioned = await console.provision()
    await console.signed_in()
    async with failing_commit(database_url, "audit_log", "INSERT"):
        response = await console.post(f"/console/customers/{provisioned.customer.id}/suspend", reason="x")
    assert response.status_code == 503 and "location" not in response.headers
    assert 'id="error"' in response.text
    async with session_scope(console.resources.sessionmaker) as session:
        assert (await session.get(Customer, provisioned.customer.id)).state == AccountState.ACTIVE
    assert await console.crawl(provisioned.first_key.secret, 1) == [200]


async def test_an_issued_key_whose_commit_fails_is_answered_503_without_a_secret(console, database_url):
    provisioned = await console.provision()
    await console.signed_in()
    async with failing_commit(database_url, "api_keys", "INSERT"):
        response = await console.post(f"/console/customers/{provisioned.customer.id}/keys", name="lost")
    assert response.status_code == 503
    assert 'id="new-key-secret"' not in response.text and "lk_" not in response.text.split('id="keys-table"')[0]
    async with session_scope(console.resources.sessionmaker) as session:
        count = await session.scalar(select(func.count()).select_from(ApiKey)
                                     .where(ApiKey.customer_id == provisioned.customer.id))
    assert count == 1
