"""Every answer of the licensed content path (CONTRACT.md), over ASGI with real PostgreSQL/Redis."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from licensing_api.db import utcnow
from licensing_api.usage import redis_keys
from tests.access.helpers import another_key, new_crawler, set_account_state

ITEM = "/v1/content/sourdough-chemistry"


async def until_status(api, headers, status: int):
    """Request until `status` comes back (bounded: 50 × 20 ms), e.g. after a pub/sub message."""
    for _ in range(50):
        response = await api.client.get(ITEM, headers=headers)
        if response.status_code == status:
            return response
        await asyncio.sleep(0.02)
    raise AssertionError(f"still {response.status_code}, never {status}")


async def test_a_served_request_is_200_with_usage_headers_and_one_unit(api):
    crawler = await new_crawler(api.resources)
    first = await api.client.get(ITEM, headers=crawler.headers)
    second = await api.client.get(ITEM, headers=crawler.headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["title"] == "The Chemistry Behind a Sourdough Loaf"
    assert first.headers["X-Usage-Units"] == "1"
    assert second.headers["X-Usage-Units"] == "2"
    assert second.headers["crawler-charged"] == "USD 0.00"  # inside the plan's included units
    assert "X-Usage-Included" not in second.headers  # the period's terms: GET /v1/usage
    assert api.hot_path.tally.units_this_period(crawler.period_field) == 2


async def test_x_api_key_header_is_accepted_like_bearer(api):
    crawler = await new_crawler(api.resources)
    response = await api.client.get(ITEM, headers={"X-API-Key": crawler.secret})
    assert response.status_code == 200


async def test_a_request_without_any_key_gets_the_402_license_offer(api):
    response = await api.client.get(ITEM)
    assert response.status_code == 402
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/license-required")


async def test_a_malformed_key_is_401_with_www_authenticate(api):
    for headers in (
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "lk_short"},
    ):
        response = await api.client.get(ITEM, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="licensing-api"')
        assert response.json()["type"].endswith("/invalid-api-key")


async def test_an_unknown_key_is_401_with_www_authenticate(api):
    response = await api.client.get(ITEM, headers={"Authorization": "Bearer lk_" + "x" * 43})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="licensing-api"')


async def test_a_revoked_key_is_403_and_the_customers_other_keys_still_work(api):
    crawler = await new_crawler(api.resources)
    spare = await another_key(api.resources, crawler)
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 200
    revoked = await api.client.delete(f"/v1/keys/{crawler.key_id}", headers=spare.headers)
    assert revoked.status_code == 200
    response = await until_status(api, crawler.headers, 403)
    assert response.json()["type"].endswith("/key-revoked")
    assert (await api.client.get(ITEM, headers=spare.headers)).status_code == 200


async def test_a_suspended_account_is_402_with_where_to_pay(api):
    crawler = await new_crawler(api.resources)
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 200
    await set_account_state(api.resources, crawler.customer_id, "suspended")
    body = (await until_status(api, crawler.headers, 402)).json()
    assert body["type"].endswith("/account-suspended")
    assert body["payment_url"] == f"{api.resources.settings.public_base_url}/dashboard"
    assert body["payment_url"] in body["detail"]


async def test_past_due_is_served_during_grace_and_402_once_grace_is_over(api):
    in_grace = await new_crawler(api.resources)
    await set_account_state(api.resources, in_grace.customer_id, "past_due", utcnow() + timedelta(days=3))
    over = await new_crawler(api.resources)
    await set_account_state(api.resources, over.customer_id, "past_due", utcnow() - timedelta(seconds=1))
    assert (await api.client.get(ITEM, headers=in_grace.headers)).status_code == 200
    assert (await api.client.get(ITEM, headers=over.headers)).status_code == 402


async def test_the_end_of_grace_is_enforced_from_the_cached_record_alone(api):
    crawler = await new_crawler(api.resources)
    await set_account_state(api.resources, crawler.customer_id, "past_due", utcnow() + timedelta(days=3))
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 200
    guard = api.hot_path.guard
    real_clock = guard.clock
    guard.clock = lambda: real_clock() + 4 * 86_400  # no database change, no message
    try:
        assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 402
    finally:
        guard.clock = real_clock


async def test_a_revoked_account_is_403(api):
    crawler = await new_crawler(api.resources)
    await set_account_state(api.resources, crawler.customer_id, "revoked")
    response = await api.client.get(ITEM, headers=crawler.headers)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/account-revoked")


async def test_the_plan_cap_is_429_until_the_period_ends(api):
    crawler = await new_crawler(api.resources, plan="capped")  # 3 units per period
    statuses = [(await api.client.get(ITEM, headers=crawler.headers)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert api.hot_path.tally.units_this_period(crawler.period_field) == 3
    refused = await api.client.get(ITEM, headers=crawler.headers)
    assert refused.json()["type"].endswith("/usage-cap-reached")
    assert int(refused.headers["Retry-After"]) > 86_400  # the monthly period has just begun


async def test_the_cap_counts_units_that_other_workers_moved_to_redis(api):
    crawler = await new_crawler(api.resources, plan="capped")
    await api.resources.redis.hset(
        api.resources.redis_key(redis_keys.period_totals_of(crawler.period_field)), crawler.period_field, 3)
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 429


async def test_the_per_key_rate_limit_is_429_with_retry_after(api):
    crawler = await new_crawler(api.resources, plan="slow")  # 1 request per second
    first = await api.client.get(ITEM, headers=crawler.headers)
    second = await api.client.get(ITEM, headers=crawler.headers)
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["type"].endswith("/rate-limited")
    assert second.headers["Retry-After"] == "1"
    assert api.hot_path.tally.units_this_period(crawler.period_field) == 1  # 429s are not billed


async def test_failed_requests_are_never_billed(api):
    crawler = await new_crawler(api.resources)
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 200
    assert (await api.client.get("/v1/content/no-such-article", headers=crawler.headers)).status_code == 404
    assert (await api.client.get("/v1/content/a/%2e%2e/%2e%2e/b", headers=crawler.headers)).status_code == 400
    assert (await api.client.get("/v1/content?cursor=%%%", headers=crawler.headers)).status_code == 400
    assert api.hot_path.tally.units_this_period(crawler.period_field) == 1
    usage = await api.client.get("/v1/usage", headers=crawler.headers)
    assert usage.json()["units"] == 1


async def test_several_keys_of_one_customer_count_toward_its_one_usage_item(api):
    crawler = await new_crawler(api.resources)
    keys = [crawler, await another_key(api.resources, crawler), await another_key(api.resources, crawler)]
    for key in keys:
        for _ in range(2):
            assert (await api.client.get(ITEM, headers=key.headers)).status_code == 200
    last = await api.client.get(ITEM, headers=keys[0].headers)
    assert last.headers["X-Usage-Units"] == "7"
    await api.hot_path.tally.move_once()
    counted = await api.resources.redis.hget(
        api.resources.redis_key(redis_keys.period_totals_of(crawler.period_field)), crawler.period_field)
    assert int(counted) == 7
    per_key = {}
    for shard in range(redis_keys.SHARDS):
        by_key = await api.resources.redis.hgetall(api.resources.redis_key(redis_keys.key_days(shard)))
        per_key.update({field.decode().rsplit(":", 1)[0]: int(units) for field, units in by_key.items()})
    assert [per_key[str(key.key_id)] for key in keys] == [3, 2, 2]
