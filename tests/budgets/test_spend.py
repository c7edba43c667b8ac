"""Where the hard stop falls: the most units whose estimated bill stays within the budget,
checked against the invoice's tier math unit by unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from licensing_api.billing.models import PlanKind
from licensing_api.billing.plans import PlanSpec, Tier
from licensing_api.budgets.spend import bill_of, last_unit_within, spend_stop, thresholds_reached


def plan(tiers: tuple[Tier, ...], base: int = 0, kind: PlanKind = PlanKind.HYBRID) -> PlanSpec:
    return PlanSpec(id="p", name="P", kind=kind, currency="usd", interval="month", base_amount=base,
                    included_units=0, tiers=tiers, cap_units=None, rate_limit_per_second=None)


PLANS = {
    "graduated": plan((Tier(10, Decimal(0)), Tier(20, Decimal(10)), Tier(None, Decimal(25))), base=1000),
    "fraction of a cent": plan((Tier(None, Decimal("0.1")),), kind=PlanKind.METERED),
    "included then a third of a cent": plan((Tier(100, Decimal(0)), Tier(None, Decimal("0.33"))), base=500),
    "flat fee on entering a tier": plan((Tier(5, Decimal(0)), Tier(None, Decimal(2), flat_amount=40)), base=100),
}


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("budget", [1, 99, 100, 139, 140, 141, 500, 501, 1000, 1099, 1100, 1224, 1225, 1300])
def test_the_stop_is_the_last_unit_whose_bill_fits_the_budget(name, budget):
    spec = PLANS[name]
    last = last_unit_within(spec, budget)
    if bill_of(spec, 0) > budget:
        assert last == -1
        return
    assert last is not None
    assert bill_of(spec, last) <= budget < bill_of(spec, last + 1)
    # and no unit count below it exceeds the budget (the bill never shrinks)
    assert all(bill_of(spec, n) <= budget for n in range(0, last, max(1, last // 500)))


def test_the_graduated_example_by_hand():
    # 10.00 base, 10 free units, 10 at 0.10, then 0.25: 12.00 buys 24 units, 25 cost 12.25.
    assert last_unit_within(PLANS["graduated"], 1200) == 24


def test_a_fixed_plan_within_budget_never_stops_and_over_budget_stops_everything():
    fixed = plan((), base=2500, kind=PlanKind.FIXED)
    assert last_unit_within(fixed, 2500) is None
    assert spend_stop(fixed, 2500, hard_stop=True) is None
    assert last_unit_within(fixed, 2499) == -1


def test_a_bill_that_stops_growing_inside_the_budget_never_stops():
    capped_tiers = plan((Tier(10, Decimal(5)), Tier(None, Decimal(0))), base=100)
    assert last_unit_within(capped_tiers, 150) is None
    assert last_unit_within(capped_tiers, 149) == 9


def test_without_the_hard_stop_nothing_is_enforced():
    assert spend_stop(PLANS["graduated"], 1200, hard_stop=False) is None
    assert spend_stop(PLANS["graduated"], 1200, hard_stop=True).last_unit == 24  # type: ignore[union-attr]


def test_thresholds_are_reached_at_their_share_of_the_budget():
    assert thresholds_reached(499, 1000, [50, 80, 100]) == []
    assert thresholds_reached(500, 1000, [50, 80, 100]) == [50]
    assert thresholds_reached(1000, 1000, [50, 80, 100]) == [50, 80, 100]
    assert thresholds_reached(1333, 1000, [50, 120, 150]) == [50, 120]
