from decimal import Decimal

import pytest

from licensing_api.billing.plans import Tier, load_catalogue
from licensing_api.billing.pricing import (
    estimate_bill,
    format_amount,
    tiered_amount,
    tiered_amount_exact,
    unit_price_at,
)
from licensing_api.settings import BUNDLED_PLANS_FILE

HYBRID = (Tier(1000, Decimal(0)), Tier(None, Decimal("0.1")))


@pytest.mark.parametrize(
    ("units", "cents"),
    [(0, 0), (1, 0), (1000, 0), (1001, 0), (1005, 1), (1004, 0), (3500, 250), (1_001_000, 100_000)],
)
def test_graduated_tiers_round_half_up_at_the_line(units, cents):
    assert tiered_amount(HYBRID, units) == cents


def test_exact_amount_keeps_fractions_of_a_cent():
    assert tiered_amount_exact(HYBRID, 1003) == Decimal("0.3")


def test_flat_amounts_are_added_per_tier_reached():
    tiers = (Tier(10, Decimal(1), flat_amount=100), Tier(None, Decimal(2), flat_amount=50))
    assert tiered_amount(tiers, 5) == 105
    assert tiered_amount(tiers, 12) == 100 + 10 + 50 + 4


def test_unit_price_follows_the_tier_of_the_next_unit():
    assert unit_price_at(HYBRID, 999) == 0
    assert unit_price_at(HYBRID, 1000) == Decimal("0.1")


def test_standard_plan_estimate_is_base_fee_plus_overage():
    plan = load_catalogue(BUNDLED_PLANS_FILE).get("standard")
    estimate = estimate_bill(plan, 3500)
    assert (estimate.base_amount, estimate.usage_amount, estimate.total_amount) == (10000, 250, 10250)
    assert (estimate.included_units, estimate.overage_units) == (1000, 2500)


def test_fixed_plan_bills_only_its_fee():
    plan = load_catalogue(BUNDLED_PLANS_FILE).get("starter")
    estimate = estimate_bill(plan, 4000)
    assert (estimate.total_amount, estimate.overage_units) == (2500, 0)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(12345, "usd", "123.45 USD"), (500, "jpy", "500 JPY"), (1234, "kwd", "1.234 KWD")],
)
def test_amounts_format_in_the_currency_minor_unit(amount, currency, text):
    assert format_amount(amount, currency) == text
