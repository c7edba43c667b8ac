"""price: what serving this path costs the caller: units, and its `crawler-charged` values.

Today every licensed request is one unit; the price of that unit depends on the plan's tier
reached, so the header value is picked when the unit is counted (`meter`). One `Price` per
plan is built at start-up; the request path only looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass

from licensing_api.access.records import AccessRecord
from licensing_api.standards.offer import ChargedPrices


@dataclass(frozen=True, slots=True)
class Price:
    units: int
    charged: ChargedPrices | None  # the plan's `crawler-charged` values per tier (None: unpriced)


ONE_UNIT = Price(1, None)


class Pricing:
    def __init__(self, charged: dict[str, ChargedPrices]) -> None:
        self._by_plan = {plan_id: Price(1, prices) for plan_id, prices in charged.items()}

    def price(self, path: str, record: AccessRecord) -> Price:
        """The price of serving `path` to `record`'s caller."""
        target = record.target
        if target is None:
            return ONE_UNIT  # no subscription: `enforce` refuses it
        return self._by_plan.get(target.plan.id, ONE_UNIT)
