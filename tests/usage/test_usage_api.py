"""`GET /v1/usage`: this period's units, allowance, overage and estimated bill."""

from __future__ import annotations

from licensing_api.billing.pricing import estimate_bill
from licensing_api.usage.redis_keys import period_totals_of
from tests.access.helpers import another_key, new_crawler

ITEM = "/v1/content/the-craft-of-bookbinding"


async def test_usage_reports_units_overage_and_the_tier_math_estimate(client, resources):
    crawler = await new_crawler(resources, plan="standard")  # 1000 included, then 0.1 cent
    await resources.redis.hset(
        resources.redis_key(period_totals_of(crawler.period_field)), crawler.period_field, 1500)
    for _ in range(5):
        assert (await client.get(ITEM, headers=crawler.headers)).status_code == 200

    body = (await client.get("/v1/usage", headers=crawler.headers)).json()

    expected = estimate_bill(resources.catalogue.get("standard"), 1505)
    assert body["units"] == 1505
    assert body["included_units"] == 1000
    assert body["overage_units"] == 505
    assert body["usage_amount"] == expected.usage_amount == 51  # 50.5 cents, rounded half up
    assert body["estimated_amount"] == 10051
    assert body["estimated_amount_display"] == "100.51 USD"
    assert body["currency"] == "usd" and body["plan_id"] == "standard"
    assert body["period_start"] < body["period_end"]


async def test_usage_counts_this_workers_units_not_yet_in_redis_and_is_not_billed(client, resources):
    crawler = await new_crawler(resources)
    for _ in range(3):
        await client.get(ITEM, headers=crawler.headers)
    first = (await client.get("/v1/usage", headers=crawler.headers)).json()
    second = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert first["units"] == second["units"] == 3


async def test_usage_is_the_customers_across_all_its_keys(client, resources):
    crawler = await new_crawler(resources)
    spare = await another_key(resources, crawler)
    await client.get(ITEM, headers=crawler.headers)
    await client.get(ITEM, headers=spare.headers)
    assert (await client.get("/v1/usage", headers=spare.headers)).json()["units"] == 2


async def test_a_suspended_customer_can_still_read_its_usage(client, resources):
    from tests.access.helpers import set_account_state

    crawler = await new_crawler(resources)
    await set_account_state(resources, crawler.customer_id, "suspended")
    assert (await client.get("/v1/usage", headers=crawler.headers)).status_code == 200


async def test_usage_needs_a_valid_key(client):
    response = await client.get("/v1/usage", headers={"X-API-Key": "lk_" + "z" * 40})
    assert response.status_code == 401
