"""The dashboard's budget card: shown with the period's figures, set and removed by form."""

from __future__ import annotations

from tests.budgets.conftest import ONE_UNIT, Api, crawler_in_fixed_period
from tests.dashboard.pages import hidden, signed_in_page, value_of


async def test_the_budget_is_set_from_the_form_and_shown_with_the_estimate(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    page = await signed_in_page(api.client, crawler.secret)
    assert 'id="no-budget"' in page
    saved = await api.client.post("/dashboard/budget", data={
        "csrf_token": hidden(page, "csrf_token"), "amount": "12.00", "thresholds": "80, 50", "hard_stop": "on"})
    assert saved.status_code == 303 and saved.headers["location"] == "/dashboard?done=budget-saved"
    for _ in range(21):
        await api.client.get(ONE_UNIT, headers=crawler.headers)
    page = (await api.client.get("/dashboard?done=budget-saved")).text
    assert value_of(page, "budget-amount") == 1200
    assert value_of(page, "budget-estimated") == 1125 == value_of(page, "estimated-total")
    assert value_of(page, "budget-remaining") == 75
    assert "requests past 24 this period are refused" in page
    assert 'value="12.00"' in page and 'value="50, 80"' in page
    api_view = (await api.client.get("/v1/budget", headers=crawler.headers)).json()
    assert (api_view["amount"], api_view["thresholds"], api_view["hard_stop"]) == (1200, [50, 80], True)


async def test_a_bad_amount_shows_the_reason_and_saves_nothing(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    page = await signed_in_page(api.client, crawler.secret)
    token = hidden(page, "csrf_token")
    for amount, thresholds in (("12.001", "50"), ("lots", "50"), ("0", "50"), ("10", "50, 50"), ("10", "half")):
        refused = await api.client.post("/dashboard/budget", data={
            "csrf_token": token, "amount": amount, "thresholds": thresholds})
        assert refused.status_code == 400, (amount, thresholds)
        assert 'role="alert"' in refused.text
    assert (await api.client.get("/v1/budget", headers=crawler.headers)).status_code == 404


async def test_the_form_needs_the_csrf_token(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    await signed_in_page(api.client, crawler.secret)
    refused = await api.client.post("/dashboard/budget", data={"amount": "12.00", "thresholds": "50"})
    assert refused.status_code == 403
    assert (await api.client.get("/v1/budget", headers=crawler.headers)).status_code == 404


async def test_removing_the_budget_from_the_dashboard(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    await api.client.put("/v1/budget", json={"amount": 1200}, headers=crawler.headers)
    page = await signed_in_page(api.client, crawler.secret)
    assert 'id="remove-budget"' in page
    removed = await api.client.post("/dashboard/budget/remove", data={"csrf_token": hidden(page, "csrf_token")})
    assert removed.status_code == 303
    assert (await api.client.get("/v1/budget", headers=crawler.headers)).status_code == 404
