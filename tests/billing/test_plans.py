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
