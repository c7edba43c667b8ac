"""The HTTP 402 license offer and the pay-per-crawl price headers.

A request for licensed content without any key gets `402 Payment Required`: a problem+json
body naming the plans and how to sign up, and `crawler-price: USD 0.001` in the form
Cloudflare's pay-per-crawl uses, so crawlers built for it understand the price; a browser
gets a small human page instead. Served, metered requests carry `crawler-charged` with the
price of that request under the caller's plan.

Everything is computed once per process from the catalogue and settings (`build_standards`);
the request path only picks precomputed values.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.billing.pricing import format_amount, minor_unit_exponent, to_major_units
from licensing_api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, ProblemError
from licensing_api.settings import Settings

CRAWLER_PRICE_HEADER = "crawler-price"
CRAWLER_CHARGED_HEADER = "crawler-charged"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class LicenseRequired(ProblemError):
    """No credentials at all: answered with the license offer (see `LicenseOffer`)."""

    status, slug, title = 402, "license-required", "License required"


def major_amount(amount_minor: Decimal | int, currency: str) -> str:
    """Minor units → exact major units with at least the currency's decimals: 10000 → "100.00",
    Decimal("0.1") → "0.001"."""
    major = to_major_units(Decimal(amount_minor), currency)
    exponent = minor_unit_exponent(currency)
    if major.as_tuple().exponent > -exponent:  # type: ignore[operator]
        major = major.quantize(Decimal(1).scaleb(-exponent))
    return f"{major:f}"


def format_crawler_price(amount_minor: Decimal | int, currency: str) -> str:
    """Minor units → `"USD 0.001"`, the pay-per-crawl header form."""
    return f"{currency.upper()} {major_amount(amount_minor, currency)}"


def main_currency(catalogue: PlanCatalogue) -> str:
    """The currency most plans use (the first plan's on a tie): prices compare only within one."""
    counts: dict[str, int] = {}
    for plan in catalogue:
        counts[plan.currency] = counts.get(plan.currency, 0) + 1
    return max(counts, key=lambda currency: counts[currency])  # max keeps the first on ties


def cheapest_crawler_price(catalogue: PlanCatalogue) -> str | None:
    """The cheapest per-request price among plans in the main currency, or None if none meters."""
    currency = main_currency(catalogue)
    prices = [
        plan.cheapest_unit_price
        for plan in catalogue
        if plan.currency == currency and plan.cheapest_unit_price is not None
    ]
    return format_crawler_price(min(prices), currency) if prices else None


@dataclass(frozen=True, slots=True)
class ChargedPrices:
    """`crawler-charged` values of one plan, one per tier, picked by the units already used."""

    boundaries: tuple[int, ...]  # each finite tier's `up_to`
    values: tuple[str, ...]  # len(boundaries) + 1 header values
    headers: tuple[tuple[bytes, bytes], ...]  # the same, as raw ASGI headers

    @classmethod
    def for_plan(cls, plan: PlanSpec) -> ChargedPrices:
        if plan.tiers:
            boundaries = tuple(t.up_to for t in plan.tiers if t.up_to is not None)
            values = tuple(format_crawler_price(t.unit_amount_decimal, plan.currency) for t in plan.tiers)
        else:
            boundaries, values = (), (format_crawler_price(Decimal(0), plan.currency),)
        raw_name = CRAWLER_CHARGED_HEADER.encode()
        return cls(boundaries, values, tuple((raw_name, value.encode()) for value in values))

    def header_value(self, units_before: int) -> str:
        """Price of the next request after `units_before` units this period (same rule as
        `billing.pricing.unit_price_at`)."""
        return self.values[bisect_right(self.boundaries, units_before)]

    def header(self, units_before: int) -> tuple[bytes, bytes]:
        """`header_value` as the raw header the request path appends."""
        return self.headers[bisect_right(self.boundaries, units_before)]


def prefers_html(accept: str | None) -> bool:
    """True when the Accept header ranks text/html above JSON (a browser, not a crawler)."""
    if not accept:
        return False
    html_q = json_q = 0.0
    html_specificity = json_specificity = -1
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        html_spec = _specificity(media, "text", "html")
        if html_spec > html_specificity:
            html_specificity, html_q = html_spec, q
        json_spec = max(_specificity(media, "application", "json"),
                        _specificity(media, "application", "problem+json"))
        if json_spec > json_specificity:
            json_specificity, json_q = json_spec, q
    return html_q > json_q


def _specificity(media_range: str, type_: str, subtype: str) -> int:
    if media_range == f"{type_}/{subtype}":
        return 2
    if media_range == f"{type_}/*":
        return 1
    if media_range == "*/*":
        return 0
    return -1


@dataclass(frozen=True, slots=True)
class LicenseOffer:
    """The 402 answer to a keyless request, precomputed: body, headers and human page."""

    body: dict[str, Any]
    headers: dict[str, str]
    html: str = field(repr=False)

    def response(self, request: Request) -> Response:
        if prefers_html(request.headers.get("accept")):
            return HTMLResponse(self.html, status_code=402, headers=self.headers)
        body = dict(self.body, instance=request.url.path)
        return Response(
            json.dumps(body), status_code=402, media_type=PROBLEM_MEDIA_TYPE, headers=self.headers
        )


def plan_offer(plan: PlanSpec) -> dict[str, Any]:
    unit_price = plan.cheapest_unit_price
    return {
        "id": plan.id,
        "name": plan.name,
        "kind": str(plan.kind),
        "currency": plan.currency,
        "interval": plan.interval,
        "base_amount": plan.base_amount,
        "base_fee": format_amount(plan.base_amount, plan.currency),
        "included_units": plan.included_units,
        "cap_units": plan.cap_units,
        "unit_amount_decimal": None if unit_price is None else str(unit_price),
        "price_per_request": None if unit_price is None else format_crawler_price(unit_price, plan.currency),
    }


def build_license_offer(settings: Settings, catalogue: PlanCatalogue) -> LicenseOffer:
    base = settings.public_base_url
    signup_url = f"{base}/v1/signup"
    signup_page = f"{base}/license"
    license_url = f"{base}/license.xml"
    plans = [plan_offer(plan) for plan in catalogue]
    price = cheapest_crawler_price(catalogue)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + LicenseRequired.slug,
        "title": LicenseRequired.title,
        "status": 402,
        "detail": "This content is licensed. " + how_to_get_a_key(settings)
        + ", then send it as `Authorization: Bearer <key>`.",
        "plans": plans,
    }
    if settings.billing_enabled:
        body["signup"] = {
            "url": signup_url,
            "method": "POST",
            "content_type": "application/json",
            "fields": {"email": "your billing email", "plan": "one of the plan ids above"},
        }
        body["signup_url"] = signup_url
    elif settings.license_contact_email:
        # Signup answers 503 with billing off: keys come from the operator.
        body["contact"] = {"email": settings.license_contact_email,
                           "url": f"mailto:{settings.license_contact_email}"}
    body.update(signup_page=signup_page, license_url=license_url, crawler_price=price)
    headers = {
        "Link": f'<{license_url}>; rel="license"; type="application/rsl+xml"',
        "WWW-Authenticate": 'Bearer realm="licensing-api"',
        "Cache-Control": "no-store",
    }
    if price is not None:
        headers[CRAWLER_PRICE_HEADER] = price
    html = render_license_page(settings, catalogue, plans, price, title="License required")
    return LicenseOffer(body=body, headers=headers, html=html)


def how_to_get_a_key(settings: Settings) -> str:
    """One sentence: self-service signup with billing on; the operator's contact without."""
    if settings.billing_enabled:
        return (f"Sign up for a plan (POST {settings.public_base_url}/v1/signup with your email "
                "and a plan id) to get an API key")
    if settings.license_contact_email:
        return f"API keys are issued by this site's operator: write to {settings.license_contact_email} for one"
    return "API keys are issued by this site's operator (self-service signup is off): ask them for one"


def render_license_page(
    settings: Settings,
    catalogue: PlanCatalogue,
    plans: list[dict[str, Any]] | None = None,
    price: str | None = None,
    *,
    title: str = "License this site's content",
) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"])
    )
    base = settings.public_base_url
    return environment.get_template("license.html").render(
        title=title,
        plans=plans if plans is not None else [plan_offer(plan) for plan in catalogue],
        crawler_price=price if price is not None else cheapest_crawler_price(catalogue),
        signup_url=f"{base}/v1/signup" if settings.billing_enabled else None,
        how_to_get_a_key=how_to_get_a_key(settings),
        license_url=f"{base}/license.xml",
        terms_url=settings.license_terms_url,
        contact_email=settings.license_contact_email,
        permitted=settings.permitted_usage.split(),
        prohibited=settings.prohibited_usage.split(),
    )
