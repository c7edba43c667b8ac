"""Tier math: what a number of units costs under a plan, in integer minor units.

The rule (the same one Stripe applies to a graduated tiered price, and the one the local
Stripe server implements independently): for each tier, the units that fall in it are
multiplied by the tier's `unit_amount_decimal` and the tier's `flat_amount` is added; the
tiers are summed as an exact Decimal and the line total is rounded half-up to an integer in
the currency's minor unit. Never float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from licensing_api.billing.currencies import minor_unit_exponent
from licensing_api.billing.plans import PlanSpec, Tier


def format_amount(amount_minor: int | Decimal, currency: str) -> str:
    """`12345, "usd"` → `"123.45 USD"` (display only; never parsed back)."""
    exponent = minor_unit_exponent(currency)
    major = Decimal(amount_minor).scaleb(-exponent)
    return f"{major:,.{exponent}f} {currency.upper()}"


def to_major_units(amount_minor: Decimal, currency: str) -> Decimal:
    """Minor units (possibly fractional) → major units, exact: `Decimal("0.1"), "usd"` → `0.001`."""
    return (amount_minor.scaleb(-minor_unit_exponent(currency))).normalize()


def tiered_amount_exact(tiers: tuple[Tier, ...], units: int) -> Decimal:
    """Graduated tier amount for `units`, unrounded, in minor units."""
    if units < 0:
        raise ValueError("units must not be negative")
    total = Decimal(0)
    lower = 0
    for tier in tiers:
        if units <= lower:
            break
        upper = units if tier.up_to is None else min(units, tier.up_to)
        in_tier = upper - lower
        if in_tier > 0:
            total += tier.unit_amount_decimal * in_tier + tier.flat_amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return total


def tiered_amount(tiers: tuple[Tier, ...], units: int) -> int:
    """Graduated tier amount for `units`, rounded half-up to integer minor units."""
    return int(tiered_amount_exact(tiers, units).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def request_amount_exact(tiers: tuple[Tier, ...], units_before: int, units: int) -> Decimal:
    """What one request counting `units` costs after `units_before` units this period, in
    minor units, unrounded: the graduated amount it adds (a request may straddle tiers)."""
    if units_before < 0 or units < 0:
        raise ValueError("units must not be negative")
    return tiered_amount_exact(tiers, units_before + units) - tiered_amount_exact(tiers, units_before)


def unit_price_at(tiers: tuple[Tier, ...], units_before: int) -> Decimal:
    """Price (minor units, unrounded) of the next unit after `units_before` units."""
    lower = 0
    for tier in tiers:
        if tier.up_to is None or units_before < tier.up_to:
            return tier.unit_amount_decimal
        lower = tier.up_to
    return Decimal(0)


@dataclass(frozen=True, slots=True)
class BillEstimate:
    currency: str
    units: int
    included_units: int
    overage_units: int
    base_amount: int
    usage_amount: int
    total_amount: int


def estimate_bill(plan: PlanSpec, units: int) -> BillEstimate:
    """The period's bill so far: base fee plus the metered line, as Stripe will invoice it."""
    usage_amount = tiered_amount(plan.tiers, units) if plan.tiers else 0
    included = plan.included_units
    return BillEstimate(
        currency=plan.currency,
        units=units,
        included_units=included,
        overage_units=max(0, units - included) if plan.tiers else 0,
        base_amount=plan.base_amount,
        usage_amount=usage_amount,
        total_amount=plan.base_amount + usage_amount,
    )
