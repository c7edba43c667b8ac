"""Everything the crawler standards need at request time, built once per process.

`install_standards(app, settings, catalogue)` (called by the app factory) precomputes the
402 offer, the request pricer (per-path units, pre-encoded `crawler-charged` values),
`license.xml`, `robots.txt`, the `Link` header of content responses and the crawler
directory, and mounts the routes. The request path reads them
with `get_standards(request)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from starlette.responses import Response

from licensing_api.billing.plans import PlanCatalogue
from licensing_api.settings import Settings
from licensing_api.standards.crawlers import BUNDLED_CRAWLER_LIST, CrawlerDirectory, load_crawler_names
from licensing_api.standards.offer import (
    LicenseOffer,
    build_license_offer,
    license_link,
    render_license_page,
)
from licensing_api.standards.paypercrawl import CRAWLER_EXACT_PRICE, CRAWLER_MAX_PRICE, read_price_limit
from licensing_api.standards.pricing_step import RequestPricer
from licensing_api.standards.robots import build_robots_txt
from licensing_api.standards.rsl import build_license_xml


@dataclass(frozen=True, slots=True)
class CrawlerStandards:
    offer: LicenseOffer
    pricer: RequestPricer
    license_xml: str
    robots_txt: str
    link_header: tuple[bytes, bytes]  # `Link: <…/license.xml>; rel="license"` of content responses
    license_page: str = field(repr=False)
    crawlers: CrawlerDirectory = field(repr=False)

    def offer_response(self, request: Request) -> Response:
        """The 402 license offer for a request no credential identifies, with the per-crawl
        price of this path (400 if its price headers cannot be read)."""
        headers = request.headers
        limit = read_price_limit(headers.get(CRAWLER_EXACT_PRICE), headers.get(CRAWLER_MAX_PRICE))
        price = self.pricer.per_crawl_price(limit, self.pricer.units_for(request.scope["path"]))
        return self.offer.response(request, price)


def build_standards(settings: Settings, catalogue: PlanCatalogue) -> CrawlerStandards:
    pricer = RequestPricer(catalogue)
    return CrawlerStandards(
        offer=build_license_offer(settings, catalogue, pricer),
        pricer=pricer,
        license_xml=build_license_xml(settings, catalogue),
        robots_txt=build_robots_txt(settings),
        link_header=(b"link", license_link(settings).encode("latin-1")),
        license_page=render_license_page(settings, catalogue, pricer),
        crawlers=CrawlerDirectory(load_crawler_names(settings.crawler_list_file or BUNDLED_CRAWLER_LIST)),
    )


def get_standards(request: Request) -> CrawlerStandards:
    return request.app.state.crawler_standards  # type: ignore[no-any-return]


def install_standards(app: FastAPI, settings: Settings, catalogue: PlanCatalogue) -> None:
    from licensing_api.olp.router import router as olp_router
    from licensing_api.standards.router import router  # the router imports this module

    standards = build_standards(settings, catalogue)
    app.state.crawler_standards = standards
    app.include_router(router)  # crawlers are counted by the request edge (observability)
    app.include_router(olp_router)


__all__ = ["CrawlerStandards", "build_standards", "get_standards", "install_standards"]
