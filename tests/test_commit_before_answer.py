"""Every write commits before its answer is sent.

The faults are real: a deferred constraint trigger fails (or delays) the COMMIT inside
PostgreSQL after every statement of the request succeeded. An answer sent before the commit
would confirm a change that is then lost (or not visible yet to the next request).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.settings import Settings, load_settings
from tests.access.helpers import another_key, new_crawler
from tests.dashboard.conftest import SESSION_SECRET
from tests.dashboard.pages import hidden, signed_in_page
from tests.support import infra
from tests.support.browser import running_service
from tests.support.commit_faults import failing_commit, slow_commit

ITEM = "/v1/content/repairing-a-bicycle-chain"
ADMIN_TOKEN = "admin-token-for-commit-tests-0123456789"


@pytest.fixture
def settings(database_url: str, redis_prefix: str) -> Settings:
    return load_settings(
        database_url=database_url, redis_url=infra.TEST_REDIS_URL, redis_key_prefix=redis_prefix,
        admin_token=ADMIN_TOKEN, session_secret=SESSION_SECRET, _env_file=None,
    )


@pytest.fixture
async def raw_client(app_resources) -> AsyncIterator[AsyncClient]:  # type: ignore[no-untyped-def]
    """A client that receives what the app sent even when the app raised afterwards, as a
    client of a real server does (the default ASGI transport would raise instead)."""
    transport = ASGITransport(app=app_resources[0], raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="module")
def live_service(database_url: str, redis_prefix: str) -> Iterator[str]:
    def settings_for(base_url: str) -> Settings:
        return load_settings(database_url=database_url, redis_url=infra.TEST_REDIS_URL,
                             redis_key_prefix=redis_prefix, public_base_url=base_url, _env_file=None)

    with running_service(settings_for) as base_url:
        yield base_url


async def _keys(resources, customer_id) -> list[ApiKey]:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        return list(await session.scalars(select(ApiKey).where(ApiKey.customer_id == customer_id)))


def _assert_not_saved(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-saved")
    assert "lk_" not in response.text


async def test_a_key_whose_commit_fails_is_answered_503_without_a_secret(raw_client, resources, database_url):
    crawler = await new_crawler(resources)
    async with failing_commit(database_url, "api_keys", "INSERT"):
        response = await raw_client.post("/v1/keys", json={"name": "lost"}, headers=crawler.headers)
    _assert_not_saved(response)
    assert [k.name for k in await _keys(resources, crawler.customer_id)] == ["first key"]


async def test_a_revocation_whose_commit_fails_is_answered_503_and_the_key_keeps_working(
    raw_client, resources, database_url
):
    crawler = await new_crawler(resources)
    async with failing_commit(database_url, "api_keys", "UPDATE OF status"):
        response = await raw_client.delete(f"/v1/keys/{crawler.key_id}", headers=crawler.headers)
    _assert_not_saved(response)
    assert (await raw_client.get(ITEM, headers=crawler.headers)).status_code == 200


async def test_a_dashboard_key_whose_commit_fails_is_answered_503_without_a_secret(
    raw_client, resources, database_url
):
    crawler = await new_crawler(resources)
    page = await signed_in_page(raw_client, crawler.secret)
    async with failing_commit(database_url, "api_keys", "INSERT"):
        response = await raw_client.post(
            "/dashboard/keys", data={"csrf_token": hidden(page, "csrf_token"), "name": "lost"})
    _assert_not_saved(response)
    assert len(await _keys(resources, crawler.customer_id)) == 1


async def test_an_admin_state_change_whose_commit_fails_is_answered_503(raw_client, resources, database_url):
    crawler = await new_crawler(resources)
    async with failing_commit(database_url, "audit_log", "INSERT"):
        response = await raw_client.post(
            f"/admin/customers/{crawler.customer_id}/state",
            json={"state": "suspended", "reason": "test"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    _assert_not_saved(response)
    async with session_scope(resources.sessionmaker) as session:
        assert (await session.get(Customer, crawler.customer_id)).state == AccountState.ACTIVE


async def test_a_new_key_works_at_once_on_a_second_connection(live_service, resources, database_url):
    crawler = await new_crawler(resources)
    async with httpx.AsyncClient(base_url=live_service) as first, \
            httpx.AsyncClient(base_url=live_service) as second:
        async with slow_commit(database_url, "api_keys", 0.5, "INSERT"):
            created = await first.post("/v1/keys", headers=crawler.headers)
            assert created.status_code == 201
            secret = created.json()["secret"]
            served = await second.get(ITEM, headers={"X-API-Key": secret})
        assert served.status_code == 200, served.text
        # Nothing false was cached either: the key keeps working.
        assert (await second.get(ITEM, headers={"X-API-Key": secret})).status_code == 200


async def test_a_revoked_key_is_refused_on_a_second_connection_right_after_the_answer(
    live_service, resources, database_url
):
    crawler = await new_crawler(resources)
    spare = await another_key(resources, crawler)  # signs the revocation; the revoked key is
    async with httpx.AsyncClient(base_url=live_service) as first, \
            httpx.AsyncClient(base_url=live_service) as second:  # in no worker's cache
        async with slow_commit(database_url, "api_keys", 0.5, "UPDATE OF status"):
            revoked = await first.delete(f"/v1/keys/{crawler.key_id}", headers=spare.headers)
            assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
            refused = await second.get(ITEM, headers=crawler.headers)
        assert refused.status_code == 403, refused.text
        assert (await second.get(ITEM, headers=spare.headers)).status_code == 200


async def test_concurrent_creations_each_commit_before_their_answer(live_service, resources, database_url):
    crawler = await new_crawler(resources)
    async with httpx.AsyncClient(base_url=live_service) as http:
        async with slow_commit(database_url, "api_keys", 0.2, "INSERT"):
            created = await asyncio.gather(*(http.post("/v1/keys", headers=crawler.headers)
                                             for _ in range(3)))
            answered = [r.json()["id"] for r in created if r.status_code == 201]
            async with session_scope(resources.sessionmaker) as session:
                stored = await session.scalar(select(func.count()).select_from(ApiKey).where(
                    ApiKey.customer_id == crawler.customer_id, ApiKey.status == KeyStatus.ACTIVE))
    assert len(answered) == 3
    assert stored == 4
