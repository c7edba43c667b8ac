"""The price step of a licensed request: its units (per-path rules) and its price under the
caller's terms, against the crawler's declared limit; and the pre-encoded `crawler-charged`.

`RequestPricer` is built once per process from the catalogue. On the request path:

    units = pricer.units_for(path)                       # a memoised dict lookup
    pricer.check(limit, plan, units_before, units)       # only if a price header was sent
    … serve, meter …
    pricer.charged_header(plan.id, units_before, units)  # a pre-encoded raw header

A request's price is what its units add to the period's graduated amount (`billing.pricing`):
inside one tier, the units times the tier's price, which is pre-encoded per plan, unit count
and tier; a request that straddles a tier boundary (or enters a tier with a flat fee) is
priced exactly and formatted then, which happens once per period per boundary.

A caller without an account pays per crawl: the plan marked `per_crawl = true` in its
currency (the limit's currency when the crawler declared one, else the catalogue's main one),
at zero usage.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal

from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.billing.pricing import request_amount_exact
from licensing_api.standards.paypercrawl import (
    CRAWLER_CHARGED,
    CrawlerPrice,
    PriceLimit,
    price_decision,
)

CHARGED_NAME = CRAWLER_CHARGED.encode()


def main_currency(catalogue: PlanCatalogue) -> str:
    """The currency most plans use (the first plan's on a tie)."""
    counts: dict[str, int] = {}
    for plan in catalogue:
        counts[plan.currency] = counts.get(plan.currency, 0) + 1
    return max(counts, key=lambda currency: counts[currency])  # max keeps the first on ties


@dataclass(frozen=True, slots=True)
class TierPrices:
    """A plan's prices of requests counting `units`, one per tier, for requests inside a tier."""

    lowers: tuple[int, ...]  # each tier's first unit (units before it)
    uppers: tuple[int | None, ...]  # each tier's `up_to`
    flat: tuple[bool, ...]  # the tier charges a flat fee when entered
    prices: tuple[CrawlerPrice, ...]
    headers: tuple[tuple[bytes, bytes], ...]
    last_inside: tuple[float, ...] = ()  # per tier: the most units before a request still inside it
    units: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_inside", tuple(
            float("inf") if upper is None else upper - self.units for upper in self.uppers
        ))

    @classmethod
    def for_plan(cls, plan: PlanSpec, units: int) -> TierPrices:
        if not plan.tiers:  # a fixed plan: every request is covered by the fee
            free = CrawlerPrice.from_minor(0, plan.currency)
            return cls((0,), (None,), (False,), (free,), ((CHARGED_NAME, free.header_value().encode()),),
                       units=units)
        lowers, uppers, flat, prices = [], [], [], []
        lower = 0
        for tier in plan.tiers:
            lowers.append(lower)
            uppers.append(tier.up_to)
            flat.append(tier.flat_amount > 0)
            prices.append(CrawlerPrice.from_minor(tier.unit_amount_decimal * units, plan.currency))
            lower = tier.up_to or lower
        headers = tuple((CHARGED_NAME, price.header_value().encode()) for price in prices)
        return cls(tuple(lowers), tuple(uppers), tuple(flat), tuple(prices), headers, units=units)

    def tier_holding(self, units_before: int) -> int | None:
        """The tier that holds the whole request, or None if it straddles or enters a flat fee."""
        index = bisect_right(self.lowers, units_before) - 1
        if units_before > self.last_inside[index]:
            return None
        if self.flat[index] and units_before == self.lowers[index]:
            return None
        return index

    def header(self, units_before: int) -> tuple[bytes, bytes] | None:
        """The pre-encoded `crawler-charged` of a request inside one tier (the request path's
        case); None when it must be priced exactly (`RequestPricer.charged_header`)."""
        index = bisect_right(self.lowers, units_before) - 1
        if units_before > self.last_inside[index] or (self.flat[index] and units_before == self.lowers[index]):
            return None
        return self.headers[index]


@dataclass(slots=True)
class RequestPricer:
    catalogue: PlanCatalogue
    main_currency: str = field(init=False)
    per_crawl: dict[str, PlanSpec] = field(init=False)  # currency → its per-crawl plan
    _tiers: dict[tuple[str, int], TierPrices] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for plan in self.catalogue:
            for units in self.catalogue.price_rules.distinct_units():
                self._tiers[(plan.id, units)] = TierPrices.for_plan(plan, units)
        self.main_currency = main_currency(self.catalogue)
        self.per_crawl = self.catalogue.per_crawl_plans()

    def units_for(self, path: str) -> int:
        return self.catalogue.price_rules.units_for(path)

    def price(self, plan: PlanSpec, units_before: int, units: int) -> CrawlerPrice:
        """What this request costs under `plan` after `units_before` units this period."""
        tiers = self.tier_prices(plan, units)
        index = tiers.tier_holding(units_before)
        if index is not None:
            return tiers.prices[index]
        amount = request_amount_exact(plan.tiers, units_before, units) if plan.tiers else Decimal(0)
        return CrawlerPrice.from_minor(amount, plan.currency)

    def charged_header(self, plan: PlanSpec, units_before: int, units: int) -> tuple[bytes, bytes]:
        """`crawler-charged` of a served request, as the raw header the response carries."""
        header = self.tier_prices(plan, units).header(units_before)
        if header is not None:
            return header
        return CHARGED_NAME, self.price(plan, units_before, units).header_value().encode()

    def check(self, limit: PriceLimit | None, plan: PlanSpec, units_before: int, units: int) -> None:
        """Raise `PriceNotAccepted` (402, the real price) unless the limit allows this request."""
        if limit is not None:
            price_decision(limit, self.price(plan, units_before, units))

    def per_crawl_plan(self, limit: PriceLimit | None) -> PlanSpec | None:
        """The plan a caller without an account would pay this request under."""
        if limit is not None and limit.price.currency.lower() in self.per_crawl:
            return self.per_crawl[limit.price.currency.lower()]
        return self.per_crawl.get(self.main_currency) or next(iter(self.per_crawl.values()), None)

    def per_crawl_price(self, limit: PriceLimit | None, units: int) -> CrawlerPrice | None:
        plan = self.per_crawl_plan(limit)
        return self.price(plan, 0, units) if plan is not None else None

    def tier_prices(self, plan: PlanSpec, units: int) -> TierPrices:
        tiers = self._tiers.get((plan.id, units))
        if tiers is None:  # a plan or unit count not known at start (not from this catalogue)
            tiers = self._tiers[(plan.id, units)] = TierPrices.for_plan(plan, units)
        return tiers
