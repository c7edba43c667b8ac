"""Everything the crawler standards need at request time, built once per process.

`install_standards(app, settings, catalogue)` (called by the app factory) precomputes the
402 offer, the `crawler-charged` price table, `license.xml`, `robots.txt` and the crawler
directory and mounts the routes. The request path reads them
with `get_standards(request)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from starlette.responses import Response

from licensing_api.billing.plans import PlanCatalogue
from licensing_api.settings import Settings
from licensing_api.standards.crawlers import CrawlerDirectory
from licensing_api.standards.offer import (
    CRAWLER_CHARGED_HEADER,
    ChargedPrices,
    LicenseOffer,
    build_license_offer,
    render_license_page,
)
from licensing_api.standards.robots import build_robots_txt
from licensing_api.standards.rsl import build_license_xml


@dataclass(frozen=True, slots=True)
class CrawlerStandards:
    offer: LicenseOffer
    charged: dict[str, ChargedPrices]  # plan id → its crawler-charged values
    license_xml: str
    robots_txt: str
    license_page: str = field(repr=False)
    crawlers: CrawlerDirectory = field(repr=False)

    def crawler_charged(self, plan_id: str, units_before: int) -> str | None:
        """`crawler-charged` value of a served request: its price under the plan, given the
        units already used this period (0 inside the included allowance)."""
        prices = self.charged.get(plan_id)
        return prices.header_value(units_before) if prices is not None else None

    def offer_response(self, request: Request) -> Response:
        """The 402 license offer for a request that carries no key at all."""
        return self.offer.response(request)


def build_standards(settings: Settings, catalogue: PlanCatalogue) -> CrawlerStandards:
    return CrawlerStandards(
        offer=build_license_offer(settings, catalogue),
        charged={plan.id: ChargedPrices.for_plan(plan) for plan in catalogue},
        license_xml=build_license_xml(settings, catalogue),
        robots_txt=build_robots_txt(settings),
        license_page=render_license_page(settings, catalogue),
        crawlers=CrawlerDirectory.bundled(),
    )


def get_standards(request: Request) -> CrawlerStandards:
    return request.app.state.crawler_standards  # type: ignore[no-any-return]


def install_standards(app: FastAPI, settings: Settings, catalogue: PlanCatalogue) -> None:
    from licensing_api.standards.router import router  # the router imports this module

    standards = build_standards(settings, catalogue)
    app.state.crawler_standards = standards
    app.include_router(router)  # crawlers are counted by the request edge (observability)


__all__ = [
    "CRAWLER_CHARGED_HEADER", "CrawlerStandards", "build_standards", "get_standards",
    "install_standards",
]
