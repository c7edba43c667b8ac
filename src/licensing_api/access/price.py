"""price: what serving this path costs the caller, checked against the crawler's limit.

The units come from the per-path rules (`[[price_rules]]`, a memoised lookup); their price
depends on the caller's plan and the units it used this period, so `crawler-charged` is
picked when they are counted (`meter`). When the crawler declared a price limit
(`crawler-exact-price` / `crawler-max-price`), the price of this request is computed now and
compared with it (pay per crawl, `standards/paypercrawl.py`): over the maximum or not the
exact price is `402` with the real price, both headers or a malformed one `400`.

A caller nobody identifies pays per crawl: a free path (0 units) is served to it; any other
is the 402 offer, priced with the per-crawl plan (`standards/pricing_step.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from licensing_api.access.records import AccessRecord
from licensing_api.access.responses import RespondWith
from licensing_api.billing.plans import PlanSpec
from licensing_api.standards.paypercrawl import PriceLimit, read_price_limit
from licensing_api.standards.pricing_step import RequestPricer, TierPrices
from licensing_api.standards.service import CrawlerStandards
from licensing_api.usage.tally import UsageTally


@dataclass(frozen=True, slots=True)
class Price:
    units: int
    plan: PlanSpec | None  # whose tiers price the units (None: nobody's, or no subscription)
    tiers: TierPrices | None = None  # the plan's pre-encoded `crawler-charged` for these units


FREE = Price(0, None)


def declared_limit(headers: list[tuple[bytes, bytes]]) -> PriceLimit | None:
    """The crawler's price limit from raw headers (400 if both or malformed)."""
    exact = maximum = None
    for name, value in headers:
        if name == b"crawler-exact-price":
            exact = value.decode("latin-1")
        elif name == b"crawler-max-price":
            maximum = value.decode("latin-1")
    return read_price_limit(exact, maximum)


class Pricing:
    def __init__(self, standards: CrawlerStandards, tally: UsageTally) -> None:
        self.standards = standards
        self.pricer: RequestPricer = standards.pricer
        self.tally = tally
        # Prices are values: one per plan and unit count, built here, looked up per request.
        self._prices: dict[str, dict[int, Price]] = {
            plan.id: {
                units: Price(units, plan, self.pricer.tier_prices(plan, units))
                for units in self.pricer.catalogue.price_rules.distinct_units()
            }
            for plan in self.pricer.catalogue
        }
        rules = self.pricer.catalogue.price_rules
        self._units_of = rules.units_for
        self._units_memo = rules.memo  # read directly: a method call costs more than the lookup

    def price(self, path: str, record: AccessRecord, headers: list[tuple[bytes, bytes]] | None) -> Price:
        """The price of serving `path` to `record`'s caller; `headers` only when the request
        declares a price limit (identify noticed one)."""
        units = self._units_memo.get(path)
        if units is None:
            units = self._units_of(path)
        target = record.target
        if target is None:
            return Price(units, None)  # no subscription: `enforce` refuses it
        plan = target.plan
        if headers is not None:
            limit = declared_limit(headers)
            self.pricer.check(limit, plan, self.tally.units_this_period(target.period_field), units)
        by_units = self._prices.get(plan.id)
        price = by_units.get(units) if by_units is not None else None
        return price if price is not None else Price(units, plan, self.pricer.tier_prices(plan, units))

    def price_for_nobody(self, request: Request) -> Price:
        """A free path is served to anyone; anything else is the 402 offer at the per-crawl price."""
        if self.pricer.units_for(request.scope["path"]) == 0:
            declared_limit(request.scope["headers"])  # a malformed header is still a 400
            return FREE
        raise RespondWith(self.standards.offer_response(request))
