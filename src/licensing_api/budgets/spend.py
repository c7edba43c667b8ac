"""The money side of a budget: where the hard stop falls, which thresholds are reached.

Both use the period's estimated bill as the dashboard and the invoice compute it
(`billing.pricing.estimate_bill`: base fee plus the graduated metered line, rounded as
Stripe rounds). The bill only grows with the units, so the hard stop is one unit count per
record: the most units the period may reach with its bill still within the budget. The
request path then compares ints (`units_before + units > last_unit`) instead of pricing
each request; a request of any number of units (per-path price rules) is priced exactly by
that compare, since its price is what its units add to the bill.
"""

from __future__ import annotations

from dataclasses import dataclass

from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.pricing import estimate_bill

NEVER = None  # the budget is never reached (the bill stops growing below it)


@dataclass(frozen=True, slots=True)
class SpendStop:
    """A hard stop as the request path needs it (cached in the `AccessRecord`)."""

    budget_amount: int  # minor units of the plan's currency
    currency: str
    # The most units this period whose estimated bill stays within the budget; -1 when the
    # bill of no units (the base fee) already exceeds it.
    last_unit: int


def bill_of(plan: PlanSpec, units: int) -> int:
    """The period's estimated bill at `units` units, in minor units."""
    return estimate_bill(plan, units).total_amount


def last_unit_within(plan: PlanSpec, budget_amount: int) -> int | None:
    """The most units whose estimated bill is at most `budget_amount`; -1 if none is; None
    if every unit count is (the bill stops growing within the budget)."""
    if bill_of(plan, 0) > budget_amount:
        return -1
    last_boundary = max((tier.up_to for tier in plan.tiers if tier.up_to is not None), default=0)
    open_tier = next((tier for tier in plan.tiers if tier.up_to is None), None)
    if open_tier is None or open_tier.unit_amount_decimal == 0:
        # Past the last boundary (and the open tier's flat fee) the bill no longer grows.
        if bill_of(plan, last_boundary + 1) <= budget_amount:
            return NEVER
        high = last_boundary + 1
    else:
        high = max(1, last_boundary + 1)
        while bill_of(plan, high) <= budget_amount:
            high *= 2
    low = 0  # invariant: bill(low) <= budget < bill(high)
    while high - low > 1:
        middle = (low + high) // 2
        if bill_of(plan, middle) <= budget_amount:
            low = middle
        else:
            high = middle
    return low


def spend_stop(plan: PlanSpec, budget_amount: int, hard_stop: bool) -> SpendStop | None:
    """What the request path enforces for this budget under `plan`: None without a hard stop
    or when the budget cannot be reached."""
    if not hard_stop:
        return None
    last_unit = last_unit_within(plan, budget_amount)
    if last_unit is NEVER:
        return None
    return SpendStop(budget_amount, plan.currency, last_unit)


def thresholds_reached(bill: int, budget_amount: int, thresholds: list[int]) -> list[int]:
    """The thresholds (percent of the budget) that a bill of `bill` has reached."""
    return [t for t in thresholds if bill * 100 >= budget_amount * t]
