"""The price step: units per path, the price of a request under a plan (pre-encoded inside a
tier, exact across a boundary or a flat fee), the per-crawl price of a caller without an account."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.pricing import request_amount_exact
from licensing_api.settings import BUNDLED_PLANS_FILE
from licensing_api.standards.paypercrawl import CrawlerPrice, PriceNotAccepted, read_price_limit
from licensing_api.standards.pricing_step import RequestPricer

RULES = """
[[price_rules]]
path = "/v1/content/science/*"
units = 3

[[price_rules]]
path = "/v1/content$"
units = 0

[plans.flat-tiers]
kind = "metered"
currency = "usd"
tiers = [{ up_to = 10, unit_amount_decimal = "1", flat_amount = 50 },
         { up_to = "inf", unit_amount_decimal = "2", flat_amount = 100 }]
"""


@pytest.fixture(scope="module")
def pricer(tmp_path_factory) -> RequestPricer:
    plans = Path(tmp_path_factory.mktemp("plans")) / "plans.toml"
    plans.write_text(BUNDLED_PLANS_FILE.read_text() + RULES)
    return RequestPricer(load_catalogue(plans))


def test_units_come_from_the_price_rules(pricer):
    assert pricer.units_for("/v1/content/science/tide-pools") == 3
    assert pricer.units_for("/v1/content") == 0
    assert pricer.units_for("/v1/content/sourdough-chemistry") == 1


@pytest.mark.parametrize("plan_id", ["standard", "premium", "starter", "pay-per-crawl", "pay-per-crawl-eur", "flat-tiers"])
@pytest.mark.parametrize("units", [0, 1, 3])
@pytest.mark.parametrize("before", [0, 1, 9, 10, 11, 998, 999, 1000, 1001, 99_999, 100_000, 5_000_000])
def test_the_price_of_every_request_is_its_graduated_amount(pricer, plan_id, units, before):
    plan = pricer.catalogue.get(plan_id)
    exact = request_amount_exact(plan.tiers, before, units) if plan.tiers else Decimal(0)
    expected = CrawlerPrice.from_minor(exact, plan.currency)
    assert pricer.price(plan, before, units) == expected
    assert pricer.charged_header(plan, before, units) == (b"crawler-charged", expected.header_value().encode())


def test_entering_a_tier_with_a_flat_fee_charges_the_fee(pricer):
    plan = pricer.catalogue.get("flat-tiers")
    assert pricer.price(plan, 0, 1).header_value() == "USD 0.51"  # 50 flat + 1 unit, in cents
    assert pricer.price(plan, 1, 1).header_value() == "USD 0.01"
    assert pricer.price(plan, 10, 1).header_value() == "USD 1.02"  # into the second tier


def test_a_limit_below_the_price_is_refused_with_the_real_price(pricer):
    plan = pricer.catalogue.get("standard")
    pricer.check(read_price_limit(None, "USD 0.003"), plan, 1000, 3)
    with pytest.raises(PriceNotAccepted) as refused:
        pricer.check(read_price_limit(None, "USD 0.002"), plan, 1000, 3)
    assert refused.value.headers["crawler-price"] == "USD 0.003"


def test_a_caller_without_an_account_is_offered_the_per_crawl_plan_of_its_currency(pricer):
    assert pricer.per_crawl_price(None, 3).header_value() == "USD 0.003"
    assert pricer.per_crawl_price(read_price_limit("EUR 0.006", None), 3).header_value() == "EUR 0.006"
    assert pricer.per_crawl_price(read_price_limit("GBP 1.00", None), 1).header_value() == "USD 0.001"
