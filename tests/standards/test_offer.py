"""The 402 license offer and the pay-per-crawl price headers (`crawler-price`, `crawler-charged`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.pricing import unit_price_at
from licensing_api.standards.offer import (
    build_license_offer,
    cheapest_crawler_price,
    format_crawler_price,
    prefers_html,
)
from licensing_api.standards.service import build_standards

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def billing_on(settings):
    return settings.model_copy(update={"stripe_api_key": SecretStr("sk_test_offer")})


def request_for(path: str, accept: str | None) -> Request:
    headers = [(b"accept", accept.encode())] if accept else []
    return Request({"type": "http", "method": "GET", "path": path, "headers": headers,
                    "query_string": b"", "scheme": "http", "server": ("testserver", 80)})


@pytest.mark.parametrize(
    ("amount_minor", "currency", "expected"),
    [
        (Decimal("0.1"), "usd", "USD 0.001"),
        (Decimal("0.05"), "usd", "USD 0.0005"),
        (Decimal("0.2"), "eur", "EUR 0.002"),
        (Decimal(0), "usd", "USD 0.00"),
        (Decimal(150), "usd", "USD 1.50"),
        (Decimal(5), "jpy", "JPY 5"),
    ],
)
def test_crawler_price_uses_the_pay_per_crawl_form(amount_minor, currency, expected):
    assert format_crawler_price(amount_minor, currency) == expected


def test_crawler_price_is_the_cheapest_per_request_price_of_the_main_currency(settings):
    catalogue = load_catalogue(settings.plans_file)
    usd_prices = [p.cheapest_unit_price for p in catalogue if p.currency == "usd" and p.cheapest_unit_price]
    assert cheapest_crawler_price(catalogue) == format_crawler_price(min(usd_prices), "usd")


def test_crawler_charged_is_the_price_of_that_request_under_the_plan(settings):
    catalogue = load_catalogue(settings.plans_file)
    standards = build_standards(settings, catalogue)
    for plan in catalogue:
        for units_before in (0, 1, plan.included_units - 1, plan.included_units,
                             plan.included_units + 1, 10_000_000):
            if units_before < 0:
                continue
            price = unit_price_at(plan.tiers, units_before) if plan.tiers else Decimal(0)
            expected = format_crawler_price(price, plan.currency)
            assert standards.crawler_charged(plan.id, units_before) == expected, (plan.id, units_before)


def test_crawler_charged_is_zero_inside_the_included_allowance(settings):
    standards = build_standards(settings, load_catalogue(settings.plans_file))
    assert standards.crawler_charged("standard", 999) == "USD 0.00"
    assert standards.crawler_charged("standard", 1000) == "USD 0.001"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/problem+json;q=0.9, text/html", True),
        ("*/*", False),
        (None, False),
        ("application/json", False),
        ("text/html;q=0.5, application/json", False),
    ],
)
def test_a_browser_is_recognised_by_preferring_html_over_json(accept, html):
    assert prefers_html(accept) is html


def test_the_offer_names_every_plan_with_its_catalogue_prices(settings):
    settings = billing_on(settings)
    catalogue = load_catalogue(settings.plans_file)
    body = build_license_offer(settings, catalogue).body
    plans = {plan["id"]: plan for plan in body["plans"]}
    assert set(plans) == {plan.id for plan in catalogue}
    standard = plans["standard"]
    assert standard["name"] == "Standard"
    assert standard["currency"] == "usd"
    assert standard["base_amount"] == 10000
    assert standard["included_units"] == 1000
    assert standard["unit_amount_decimal"] == "0.1"
    assert standard["price_per_request"] == "USD 0.001"
    assert body["signup_url"] == f"{settings.public_base_url}/v1/signup"
    assert body["signup"]["method"] == "POST"


def test_the_offer_is_problem_json_for_a_crawler(settings):
    offer = build_license_offer(settings, load_catalogue(settings.plans_file))
    response = offer.response(request_for("/v1/content/a", "*/*"))
    assert response.status_code == 402
    assert response.media_type == "application/problem+json"
    assert response.headers["crawler-price"] == "USD 0.0005"


def test_the_offer_is_a_human_page_for_a_browser(settings):
    settings = billing_on(settings)
    offer = build_license_offer(settings, load_catalogue(settings.plans_file))
    response = offer.response(request_for("/v1/content/a", BROWSER_ACCEPT))
    assert response.status_code == 402
    assert response.media_type == "text/html"
    page = response.body.decode()
    assert "Standard" in page and f"{settings.public_base_url}/v1/signup" in page
    assert response.headers["crawler-price"] == "USD 0.0005"


async def test_license_page_lists_the_plans_for_humans(client, settings):
    response = await client.get("/license")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for plan in load_catalogue(settings.plans_file):
        assert f'id="plan-{plan.id}"' in response.text


def test_with_billing_off_the_offer_names_the_operators_contact_not_the_dead_signup(settings):
    settings = settings.model_copy(update={"license_contact_email": "licensing@publisher.example"})
    offer = build_license_offer(settings, load_catalogue(settings.plans_file))
    body = offer.body
    assert "signup_url" not in body and "signup" not in body
    assert "/v1/signup" not in str(body)
    assert body["contact"] == {"email": "licensing@publisher.example",
                               "url": "mailto:licensing@publisher.example"}
    assert "write to licensing@publisher.example" in body["detail"]
    page = offer.response(request_for("/v1/content/a", BROWSER_ACCEPT)).body.decode()
    assert "/v1/signup" not in page
    assert 'href="mailto:licensing@publisher.example"' in page


def test_with_billing_off_and_no_contact_the_offer_says_to_ask_the_operator(settings):
    body = build_license_offer(settings, load_catalogue(settings.plans_file)).body
    assert "signup_url" not in body and "contact" not in body
    assert "issued by this site's operator" in body["detail"]
