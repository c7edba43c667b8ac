"""The HTTP 402 license offer and the RSL / pay-per-crawl challenge headers.

A request for licensed content that no credential identifies gets `402 Payment Required`: a
problem+json body naming the plans, the per-crawl price and how to sign up or register a bot,
with `crawler-price` (the price of this request per crawl, from the `per_crawl = true` plan,
in Cloudflare's pay-per-crawl form), `WWW-Authenticate` challenges for both ways in (`Bearer`
for an API key, `License` for an RSL license token, as the RSL crawler guide asks of 401 and
402 answers) and `Link` to license.xml. A browser gets a small human page instead.

Everything is computed once per process from the catalogue and settings (`build_standards`);
the request path only picks precomputed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.billing.pricing import format_amount
from licensing_api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, ProblemError
from licensing_api.settings import Settings
from licensing_api.standards.paypercrawl import CRAWLER_PRICE, CrawlerPrice
from licensing_api.standards.pricing_step import RequestPricer

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
BEARER_REALM = 'Bearer realm="licensing-api"'


class LicenseRequired(ProblemError):
    """No credentials at all: answered with the license offer (see `LicenseOffer`)."""

    status, slug, title = 402, "license-required", "License required"


def major_amount(amount_minor: Decimal | int, currency: str) -> str:
    """Minor units → exact major units with at least the currency's decimals: 10000 → "100.00",
    Decimal("0.1") → "0.001"."""
    return CrawlerPrice.from_minor(amount_minor, currency).amount_text()


def format_crawler_price(amount_minor: Decimal | int, currency: str) -> str:
    """Minor units → `"USD 0.001"`, the pay-per-crawl header form."""
    return CrawlerPrice.from_minor(amount_minor, currency).header_value()


def license_url(settings: Settings) -> str:
    return f"{settings.public_base_url}/license.xml"


def license_link(settings: Settings) -> str:
    """RSL's HTTP discovery (rslstandard.org/guide/http): the governing license of a response."""
    return f'<{license_url(settings)}>; rel="license"; type="application/rsl+xml"'


def license_required_challenge(settings: Settings) -> str:
    """The `Bearer` challenge and the RSL crawler guide's `License` one, in one field
    (RFC 9110 §11.6.1), naming the license server that issues tokens. RFC 6750 §3.1: a
    request without credentials gets no `Bearer` error code."""
    return (
        f'{BEARER_REALM}, License error="invalid_request", '
        'error_description="Access to this resource requires a valid license", '
        f'authorization_uri="{settings.public_base_url}/olp/token"'
    )


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
    """The 402 answer to a request no credential identifies: body, headers and human page."""

    body: dict[str, Any]
    headers: dict[str, str]
    html: str = field(repr=False)

    def response(self, request: Request, price: CrawlerPrice | None = None) -> Response:
        """The offer, with `crawler-price` the per-crawl price of this request (None: the
        catalogue offers no per-crawl plan, so a crawler must sign up)."""
        headers = self.headers if price is None else {**self.headers, CRAWLER_PRICE: price.header_value()}
        if prefers_html(request.headers.get("accept")):
            return HTMLResponse(self.html, status_code=402, headers=headers)
        body = dict(self.body, instance=request.url.path,
                    crawler_price=price.header_value() if price is not None else None)
        return Response(json.dumps(body), status_code=402, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


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
        "per_crawl": plan.per_crawl,
    }


def offered_price(pricer: RequestPricer) -> str | None:
    """One request's per-crawl price in the main currency, for people ("from USD 0.001")."""
    price = pricer.per_crawl_price(None, 1)
    return price.header_value() if price is not None else None


def build_license_offer(settings: Settings, catalogue: PlanCatalogue, pricer: RequestPricer) -> LicenseOffer:
    base = settings.public_base_url
    signup_url = f"{base}/v1/signup"
    signup_page = f"{base}/license"
    plans = [plan_offer(plan) for plan in catalogue]
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + LicenseRequired.slug,
        "title": LicenseRequired.title,
        "status": 402,
        "detail": (
            "This content is licensed. " + how_to_get_a_key(settings)
            + ", then send it as `Authorization: Bearer <key>`; or register your crawler's Web "
            f"Bot Auth key (POST {base}/v1/bots) and sign your requests; or obtain an RSL "
            f"license token at {base}/olp/token."
        ),
        "plans": plans,
        "per_crawl": {
            plan.currency.upper(): {"plan": plan.id, "price_per_request": format_crawler_price(
                plan.cheapest_unit_price or 0, plan.currency)}
            for plan in pricer.per_crawl.values()
        },
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
    body.update(
        signup_page=signup_page,
        license_url=license_url(settings),
        license_server=f"{base}/olp/token",
        bots_url=f"{base}/v1/bots",
    )
    headers = {
        "Link": license_link(settings),
        "WWW-Authenticate": license_required_challenge(settings),
        "Cache-Control": "no-store",
    }
    html = render_license_page(settings, catalogue, pricer, plans, title="License required")
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
    pricer: RequestPricer,
    plans: list[dict[str, Any]] | None = None,
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
        crawler_price=offered_price(pricer),
        signup_url=f"{base}/v1/signup" if settings.billing_enabled else None,
        how_to_get_a_key=how_to_get_a_key(settings),
        license_url=license_url(settings),
        terms_url=settings.license_terms_url,
        contact_email=settings.license_contact_email,
        permitted=settings.permitted_usage.split(),
        prohibited=settings.prohibited_usage.split(),
    )
