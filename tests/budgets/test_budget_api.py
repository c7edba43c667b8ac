"""`GET/PUT/DELETE /v1/budget`: validated input (422 problem+json), the period's figures,
and the budget in `GET /v1/usage`."""

from __future__ import annotations

import pytest

from tests.budgets.conftest import ONE_UNIT, Api, crawler_in_fixed_period


async def test_a_budget_is_set_read_and_shown_in_usage(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    put = await api.client.put("/v1/budget", json={"amount": 1200, "hard_stop": True}, headers=crawler.headers)
    assert put.status_code == 200
    body = put.json()
    assert body["thresholds"] == [50, 80, 100]  # the defaults
    assert (body["amount"], body["currency"], body["hard_stop"], body["stops_at_units"]) == (1200, "usd", True, 24)
    assert body["estimated_amount"] == 1000  # the base fee
    assert body["thresholds_reached"] == [50, 80]
    assert body["period_start"] == "2031-03-01T00:00:00Z" and body["period_end"] == "2031-04-01T00:00:00Z"
    for _ in range(21):  # 10 free, 10 at 0.10, 1 at 0.25: 11.25
        await api.client.get(ONE_UNIT, headers=crawler.headers)
    got = (await api.client.get("/v1/budget", headers=crawler.headers)).json()
    assert (got["estimated_amount"], got["remaining_amount"]) == (1125, 75)
    usage = (await api.client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["budget"]["amount"] == 1200
    assert usage["budget"]["estimated_amount"] == usage["estimated_amount"] == 1125


async def test_thresholds_are_kept_sorted(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    put = await api.client.put("/v1/budget", json={"amount": 5000, "thresholds": [90, 25]}, headers=crawler.headers)
    assert put.json()["thresholds"] == [25, 90]
    assert put.json()["hard_stop"] is False


async def test_no_budget_is_404_problem(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    response = await api.client.get("/v1/budget", headers=crawler.headers)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/budget-not-set")
    assert (await api.client.delete("/v1/budget", headers=crawler.headers)).status_code == 404
    assert (await api.client.get("/v1/usage", headers=crawler.headers)).json()["budget"] is None


@pytest.mark.parametrize("body", [
    {"amount": 0},
    {"amount": -5},
    {"amount": 10**13},
    {"amount": "1200"},
    {"amount": 12.5},
    {"amount": True},
    {},
    {"amount": 1200, "thresholds": [0]},
    {"amount": 1200, "thresholds": [1001]},
    {"amount": 1200, "thresholds": [50, 50]},
    {"amount": 1200, "thresholds": list(range(1, 12))},
    {"amount": 1200, "thresholds": "50"},
    {"amount": 1200, "hard_stop": "yes"},
    {"amount": 1200, "currency": "eur"},
])
async def test_bad_values_are_422_problems_and_change_nothing(api: Api, body):
    crawler = await crawler_in_fixed_period(api.resources)
    response = await api.client.put("/v1/budget", json=body, headers=crawler.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await api.client.get("/v1/budget", headers=crawler.headers)).status_code == 404


async def test_a_body_that_is_not_json_is_a_4xx_problem(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    response = await api.client.put("/v1/budget", content=b"{not json", headers={
        **crawler.headers, "content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_budget_needs_an_api_key(api: Api):
    assert (await api.client.get("/v1/budget")).status_code == 402  # the license offer
    unknown = await api.client.put("/v1/budget", json={"amount": 1}, headers={"Authorization": "Bearer lk_" + "x" * 40})
    assert unknown.status_code == 401


async def test_a_budget_without_a_subscription_has_no_period(api: Api):
    from licensing_api.db import session_scope
    from licensing_api.keys.service import create_key
    from licensing_api.billing.provisioning import _new_customer  # a customer who has not chosen a plan

    async with session_scope(api.resources.sessionmaker) as session:
        customer = await _new_customer(session, "planless@example.com", None, source="test")
        key = await create_key(session, customer.id, name="k")
    headers = {"Authorization": f"Bearer {key.secret}"}
    body = (await api.client.put("/v1/budget", json={"amount": 100}, headers=headers)).json()
    assert (body["currency"], body["period_start"], body["estimated_amount"]) == (None, None, None)
