from decimal import Decimal

import pytest

from licensing_api.billing.models import PlanKind
from licensing_api.billing.plans import CatalogueError, load_catalogue
from licensing_api.settings import BUNDLED_PLANS_FILE


def test_bundled_catalogue_has_hybrid_fixed_annual_and_metered_plans():
    catalogue = load_catalogue(BUNDLED_PLANS_FILE)
    standard = catalogue.get("standard")
    assert standard.kind is PlanKind.HYBRID
    assert standard.base_amount == 10000
    assert standard.included_units == 1000
    assert standard.cheapest_unit_price == Decimal("0.1")
    assert catalogue.get("starter").cap_units == 5000
    assert catalogue.get("standard-annual").interval == "year"
    assert catalogue.get("pay-per-crawl-eur").currency == "eur"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[plans.x]\nkind = "weird"\ncurrency = "usd"', "kind"),
        ('[plans.x]\nkind = "hybrid"\ncurrency = "dollars"', "currency"),
        ('[plans.x]\nkind = "metered"\ncurrency = "usd"\nunit_amount_decimal = 0.1', "unit_amount_decimal"),
        ('[plans.x]\nkind = "fixed"\ncurrency = "usd"', "base_amount"),
        ('[plans.x]\nkind = "metered"\ncurrency = "usd"\ninterval = "week"\nunit_amount_decimal = "1"', "interval"),
        ("", "at least one"),
    ],
)
def test_invalid_catalogue_names_plan_and_field(tmp_path, body, message):
    path = tmp_path / "plans.toml"
    path.write_text(body)
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path)


TIERS = """
[[plans.x.tiers]]
up_to = 100
unit_amount_decimal = "0"
[[plans.x.tiers]]
up_to = 1000
unit_amount_decimal = "0.5"
[[plans.x.tiers]]
up_to = "inf"
unit_amount_decimal = "0.2"
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Explicit tiers and an allowance: the offer would contradict the bill.
        ('[plans.x]\nkind = "metered"\ncurrency = "usd"\nincluded_units = 500\n' + TIERS,
         "plan 'x': included_units: with explicit tiers, make the allowance a first tier"),
        ('[plans.x]\nkind = "metered"\ncurrency = "usd"\n'
         '[[plans.x.tiers]]\nup_to = "inf"\nunit_amount_decimal = "1"\n'
         '[[plans.x.tiers]]\nup_to = 100\nunit_amount_decimal = "2"\n'
         '[[plans.x.tiers]]\nup_to = "inf"\nunit_amount_decimal = "3"\n',
         r"plan 'x': tiers\[0\].up_to: only the last tier may be"),
        ('[plans.x]\nkind = "metered"\ncurrency = "usd"\n'
         '[[plans.x.tiers]]\nup_to = true\nunit_amount_decimal = "1"\n'
         '[[plans.x.tiers]]\nup_to = "inf"\nunit_amount_decimal = "2"\n',
         r"plan 'x': tiers\[0\].up_to: use increasing whole numbers"),
        ('[plans.x]\nkind = "hybrid"\ncurrency = "isk"\nbase_amount = 1050\nunit_amount_decimal = "100"',
         "plan 'x': base_amount: 1050 is not whole krónur"),
        ('[plans.x]\nkind = "metered"\ncurrency = "isk"\nunit_amount_decimal = "50"',
         r"plan 'x': tiers\[0\].unit_amount_decimal: 50 is not whole krónur"),
        ('[plans.x]\nkind = "fixed"\ncurrency = "kwd"\nbase_amount = 5125\ncap_units = 10',
         "plan 'x': base_amount: Stripe takes KWD payment amounts ending in 0"),
        ('[plans.x]\nkind = "metered"\ncurrency = "bhd"\n'
         '[[plans.x.tiers]]\nup_to = 10\nflat_amount = 1001\n'
         '[[plans.x.tiers]]\nup_to = "inf"\nunit_amount_decimal = "1"\n',
         r"plan 'x': tiers\[0\].flat_amount: Stripe takes BHD payment amounts ending in 0"),
    ],
)
def test_a_catalogue_stripe_would_refuse_or_misbill_is_refused_at_load_with_one_line(tmp_path, body, message):
    path = tmp_path / "plans.toml"
    path.write_text(body)
    with pytest.raises(CatalogueError, match=message) as caught:
        load_catalogue(path)
    assert "\n" not in str(caught.value)


def test_explicit_tiers_state_their_allowance_through_their_free_first_tier(tmp_path):
    path = tmp_path / "plans.toml"
    path.write_text('[plans.x]\nkind = "metered"\ncurrency = "usd"\n' + TIERS)
    plan = load_catalogue(path).get("x")
    assert plan.included_units == 100
    assert [t.up_to for t in plan.tiers] == [100, 1000, None]


def test_amounts_stripe_accepts_in_special_currencies_load(tmp_path):
    path = tmp_path / "plans.toml"
    path.write_text(
        '[plans.i]\nkind = "hybrid"\ncurrency = "isk"\nbase_amount = 990000\nunit_amount_decimal = "100"\n'
        '[plans.k]\nkind = "fixed"\ncurrency = "kwd"\nbase_amount = 5120\ncap_units = 10\n'
        '[plans.j]\nkind = "metered"\ncurrency = "jpy"\nunit_amount_decimal = "0.5"\n'
    )
    assert len(load_catalogue(path)) == 3
