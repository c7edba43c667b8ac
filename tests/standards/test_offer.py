"""The 402 license offer (the per-crawl price, RSL and Bearer challenges) and `crawler-charged`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.pricing import unit_price_at
from licensing_api.standards.offer import build_license_offer, format_crawler_price, prefers_html
from licensing_api.standards.pricing_step import RequestPricer
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


def test_the_offered_price_is_the_per_crawl_plans_in_the_main_currency(settings):
    catalogue = load_catalogue(settings.plans_file)
    pricer = RequestPricer(catalogue)
    assert pricer.per_crawl_price(None, 1).header_value() == "USD 0.001"  # plan pay-per-crawl
    assert pricer.per_crawl_price(None, 3).header_value() == "USD 0.003"  # a path counting 3 units


def crawler_charged(standards, plan_id: str, units_before: int) -> str:
    plan = standards.pricer.catalogue.get(plan_id)
    return standards.pricer.charged_header(plan, units_before, 1)[1].decode()


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
            assert crawler_charged(standards, plan.id, units_before) == expected, (plan.id, units_before)


def test_crawler_charged_is_zero_inside_the_included_allowance(settings):
    standards = build_standards(settings, load_catalogue(settings.plans_file))
    assert crawler_charged(standards, "standard", 999) == "USD 0.00"
    assert crawler_charged(standards, "standard", 1000) == "USD 0.001"


def test_a_request_of_several_units_straddling_the_allowance_costs_its_paid_units(settings):
    catalogue = load_catalogue(settings.plans_file)
    pricer = RequestPricer(catalogue)
    standard = catalogue.get("standard")
    assert pricer.charged_header(standard, 998, 3)[1] == b"USD 0.001"  # 2 included, 1 paid
    assert pricer.charged_header(standard, 1000, 3)[1] == b"USD 0.003"
    assert pricer.charged_header(catalogue.get("starter"), 10, 3)[1] == b"USD 0.00"  # fixed fee


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


def offer_of(settings):
    catalogue = load_catalogue(settings.plans_file)
    return build_license_offer(settings, catalogue, RequestPricer(catalogue))


def test_the_offer_names_every_plan_with_its_catalogue_prices(settings):
    settings = billing_on(settings)
    catalogue = load_catalogue(settings.plans_file)
    body = offer_of(settings).body
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
    assert body["per_crawl"] == {"USD": {"plan": "pay-per-crawl", "price_per_request": "USD 0.001"},
                                 "EUR": {"plan": "pay-per-crawl-eur", "price_per_request": "EUR 0.002"}}
    assert body["bots_url"] == f"{settings.public_base_url}/v1/bots"


def test_the_offer_is_problem_json_for_a_crawler_with_both_challenges(settings):
    standards = build_standards(settings, load_catalogue(settings.plans_file))
    response = standards.offer_response(request_for("/v1/content/a", "*/*"))
    assert response.status_code == 402
    assert response.media_type == "application/problem+json"
    assert response.headers["crawler-price"] == "USD 0.001"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="licensing-api", License error="invalid_request"')
    assert f'authorization_uri="{settings.public_base_url}/olp/token"' in challenge
    assert response.headers["link"] == f'<{settings.public_base_url}/license.xml>; rel="license"; type="application/rsl+xml"'


def test_the_offer_is_priced_in_the_currency_of_the_crawlers_limit(settings):
    standards = build_standards(settings, load_catalogue(settings.plans_file))
    request = request_for("/v1/content/a", "*/*")
    request.scope["headers"].append((b"crawler-max-price", b"EUR 1.00"))
    assert standards.offer_response(request).headers["crawler-price"] == "EUR 0.002"


def test_the_offer_is_a_human_page_for_a_browser(settings):
    settings = billing_on(settings)
    standards = build_standards(settings, load_catalogue(settings.plans_file))
    response = standards.offer_response(request_for("/v1/content/a", BROWSER_ACCEPT))
    assert response.status_code == 402
    assert response.media_type == "text/html"
    page = response.body.decode()
    assert "Standard" in page and f"{settings.public_base_url}/v1/signup" in page
    assert f'<link rel="license" type="application/rsl+xml" href="{settings.public_base_url}/license.xml">' in page
    assert response.headers["crawler-price"] == "USD 0.001"


async def test_license_page_lists_the_plans_for_humans(client, settings):
    response = await client.get("/license")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for plan in load_catalogue(settings.plans_file):
        assert f'id="plan-{plan.id}"' in response.text


def test_with_billing_off_the_offer_names_the_operators_contact_not_the_dead_signup(settings):
    settings = settings.model_copy(update={"license_contact_email": "licensing@publisher.example"})
    offer = offer_of(settings)
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
    body = offer_of(settings).body
    assert "signup_url" not in body and "contact" not in body
    assert "issued by this site's operator" in body["detail"]
