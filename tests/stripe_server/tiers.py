"""Invoice line amounts from a price and a quantity: the one rule both sides implement.

Rule (Stripe's, for ``billing_scheme=tiered``, ``tiers_mode=graduated``): walk the tiers
in order; tier *i* covers quantities above the previous tier's ``up_to`` up to its own
``up_to`` (``inf`` = unbounded). For every tier the quantity reaches, add
``quantity_in_tier × unit_amount_decimal`` and, if the tier is reached at all
(quantity_in_tier > 0), its ``flat_amount_decimal``. All arithmetic is ``Decimal`` in the
currency's minor unit (cents for usd, yen for jpy: Stripe amounts are always minor units).
The line total is rounded once, ROUND_HALF_UP, to an integer.

``tiers_mode=volume``: the single tier containing the whole quantity prices all units.
``per_unit``: ``quantity × unit_amount_decimal`` (then ``transform_quantity`` is not
modelled). Example: tiers [up_to 1000 @ 0, inf @ 0.1] and 3,500 units → 2500 × 0.1 = 250.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def tier_unit(tier: dict[str, Any]) -> Decimal:
    if tier.get("unit_amount_decimal") not in (None, ""):
        return _dec(tier["unit_amount_decimal"])
    return _dec(tier.get("unit_amount"))


def tier_flat(tier: dict[str, Any]) -> Decimal:
    if tier.get("flat_amount_decimal") not in (None, ""):
        return _dec(tier["flat_amount_decimal"])
    return _dec(tier.get("flat_amount"))


def exact_amount(price: dict[str, Any], tiers: list[dict[str, Any]], quantity: Decimal) -> Decimal:
    """Unrounded amount in minor units. ``tiers`` use ``up_to`` = int or None (inf)."""
    quantity = Decimal(quantity)
    if price.get("billing_scheme") != "tiered":
        unit = price.get("unit_amount_decimal")
        return quantity * (_dec(unit) if unit is not None else _dec(price.get("unit_amount")))
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                return quantity * tier_unit(tier) + (tier_flat(tier) if quantity > 0 else 0)
        return Decimal(0)
    total, lower = Decimal(0), Decimal(0)
    for tier in tiers:
        upper = None if tier["up_to"] is None else Decimal(tier["up_to"])
        if quantity <= lower:
            break
        in_tier = (quantity if upper is None else min(quantity, upper)) - lower
        if in_tier > 0:
            total += in_tier * tier_unit(tier) + tier_flat(tier)
        if upper is None:
            break
        lower = upper
    return total


def line_amount(price: dict[str, Any], tiers: list[dict[str, Any]], quantity: Decimal | int) -> int:
    """The invoice line amount: :func:`exact_amount` rounded ROUND_HALF_UP to an integer."""
    return int(exact_amount(price, tiers, Decimal(quantity)).quantize(Decimal(1), ROUND_HALF_UP))
