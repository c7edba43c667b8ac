"""The site's terms in the RSL 1.0 vocabulary (Really Simple Licensing, rslstandard.org/rsl).

`/license.xml` is generated once per process from the plan catalogue and the terms settings:

    <rsl xmlns="https://rslstandard.org/rsl">
      <content url="{base}/v1/content*" server="{base}/olp">
        <terms>…</terms>
        <license>                       one per plan
          <permits type="usage">…</permits>
          <prohibits type="usage">…</prohibits>
          <payment type="subscription|crawl">
            <custom>{base}/license#plan-{id}</custom>
            <amount currency="USD">100.00</amount>
          </payment>
          <legal type="warranty">…</legal> <legal type="disclaimer">…</legal>
        </license>
      </content>
    </rsl>

A `<license>` carries at most one `<payment>`, so each plan is its own license: a plan with a
base fee is a `subscription` priced at that fee per interval (the rate card, with its included
requests and overage price, is at the `<custom>` URL); a plan without one is priced per
`crawl`. The `server` attribute names this service's RSL License Server (`olp/`), so RSL
clients know they must obtain a license before crawling.

Each `[[price_rules]]` entry is a `<content>` of its own before the catch-all one, with its
pattern as the URL: per-crawl prices there are the rule's units times the unit price, and a
free rule (0 units) is one `<license>` with `<payment type="free">` and no license server.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.standards.offer import major_amount
from licensing_api.settings import Settings

RSL_NAMESPACE = "https://rslstandard.org/rsl"
RSL_MEDIA_TYPE = "application/rsl+xml"
PAYMENT_TYPES = (
    "purchase", "subscription", "training", "crawl", "use", "contribution", "attribution", "free",
)
WARRANTIES = "ownership authority"
DISCLAIMERS = "as-is no-liability"
MAX_LICENSE_XML_BYTES = 16_384


def content_url(settings: Settings) -> str:
    return f"{settings.public_base_url}/v1/content*"


def license_server_url(settings: Settings) -> str:
    return f"{settings.public_base_url}/olp"


def plan_rate_card_url(settings: Settings, plan_id: str) -> str:
    return f"{settings.public_base_url}/license#plan-{plan_id}"


def payment_type(plan: PlanSpec) -> str:
    return "subscription" if plan.has_base_fee else "crawl"


def payment_amount(plan: PlanSpec, units: int = 1) -> str:
    """The plan's price in major units: base fee per interval, or the price of one request
    counting `units`."""
    if plan.has_base_fee:
        return major_amount(plan.base_amount, plan.currency)
    return major_amount((plan.cheapest_unit_price or Decimal(0)) * units, plan.currency)


def license_element(settings: Settings, plan: PlanSpec | None, units: int = 1) -> ET.Element:
    """One plan's license (`plan` None: the free license of a free path)."""
    # Built with plain tag names: the root's xmlns puts every element in the RSL namespace.
    license_ = ET.Element("license")
    ET.SubElement(license_, "permits", type="usage").text = settings.permitted_usage
    if settings.prohibited_usage:
        ET.SubElement(license_, "prohibits", type="usage").text = settings.prohibited_usage
    if plan is None:
        ET.SubElement(license_, "payment", type="free")
    else:
        payment = ET.SubElement(license_, "payment", type=payment_type(plan))
        ET.SubElement(payment, "custom").text = plan_rate_card_url(settings, plan.id)
        ET.SubElement(payment, "amount", currency=plan.currency.upper()).text = payment_amount(plan, units)
    ET.SubElement(license_, "legal", type="warranty").text = WARRANTIES
    ET.SubElement(license_, "legal", type="disclaimer").text = DISCLAIMERS
    if settings.license_contact_email:
        contact = f"mailto:{settings.license_contact_email}"
        ET.SubElement(license_, "legal", type="contact").text = contact
    return license_


def build_license_xml(settings: Settings, catalogue: PlanCatalogue) -> str:
    root = ET.Element("rsl", xmlns=RSL_NAMESPACE)
    terms_url = settings.license_terms_url or f"{settings.public_base_url}/license"
    for rule in catalogue.price_rules:  # most specific first, as they are matched
        if rule.units == 0:
            content = ET.SubElement(root, "content", url=settings.public_base_url + rule.pattern)
            ET.SubElement(content, "terms").text = terms_url
            content.append(license_element(settings, None))
            continue
        content = ET.SubElement(
            root, "content", url=settings.public_base_url + rule.pattern, server=license_server_url(settings)
        )
        ET.SubElement(content, "terms").text = terms_url
        for plan in catalogue:
            content.append(license_element(settings, plan, rule.units))
    content = ET.SubElement(
        root, "content", url=content_url(settings), server=license_server_url(settings)
    )
    ET.SubElement(content, "terms").text = terms_url
    for plan in catalogue:
        content.append(license_element(settings, plan))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class LicenseXmlError(ValueError):
    """A `<license>` element sent by a client cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class RequestedPayment:
    type: str
    amount: Decimal | None
    currency: str | None
    custom: str | None


def _local_name(tag: str) -> str | None:
    """An element's name in the RSL vocabulary: in the RSL namespace, or in none at all (a
    `<license>` copied out of license.xml leaves the namespace behind, on the root)."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return name if namespace == RSL_NAMESPACE else None
    return tag


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in element if _local_name(child.tag) == name), None)


def parse_requested_license(xml_text: str) -> RequestedPayment:
    """Read the `<payment>` of an RSL `<license>` element a client asks to be granted: as
    copied verbatim from license.xml (no namespace of its own), with the RSL namespace, or a
    whole RSL document (its first license)."""
    if len(xml_text.encode("utf-8")) > MAX_LICENSE_XML_BYTES:
        raise LicenseXmlError("the license element is too large")
    if "<!DOCTYPE" in xml_text or "<!ENTITY" in xml_text:
        raise LicenseXmlError("document type declarations are not accepted")
    try:
        element = ET.fromstring(xml_text.strip())
    except ET.ParseError as exc:
        raise LicenseXmlError(f"not well-formed XML: {exc}") from None
    if _local_name(element.tag) == "rsl":  # a whole document: take its first license
        found = next((e for e in element.iter() if _local_name(e.tag) == "license"), None)
        if found is None:
            raise LicenseXmlError("no <license> element in the document")
        element = found
    if _local_name(element.tag) != "license":
        raise LicenseXmlError(f"expected a <license> element (RSL, {RSL_NAMESPACE})")
    payment = _child(element, "payment")
    if payment is None:
        return RequestedPayment(type="free", amount=None, currency=None, custom=None)
    kind = payment.get("type", "free")
    if kind not in PAYMENT_TYPES:
        raise LicenseXmlError(f"unknown payment type {kind!r}")
    amount_element = _child(payment, "amount")
    amount = currency = None
    if amount_element is not None:
        currency = (amount_element.get("currency") or "").lower() or None
        try:
            amount = Decimal((amount_element.text or "").strip())
        except InvalidOperation:
            raise LicenseXmlError("the <amount> is not a decimal number") from None
    custom = _child(payment, "custom")
    return RequestedPayment(
        type=kind, amount=amount, currency=currency,
        custom=(custom.text or "").strip() if custom is not None else None,
    )


def plan_for_requested(
    settings: Settings, catalogue: PlanCatalogue, requested: RequestedPayment
) -> PlanSpec | None:
    """The plan whose license the client asked for: by rate-card URL, else by type and price."""
    if requested.custom:
        match = re.fullmatch(re.escape(plan_rate_card_url(settings, "")) + r"([a-z0-9-]+)", requested.custom)
        if match:
            return catalogue.get(match.group(1))
    for plan in catalogue:
        if (
            payment_type(plan) == requested.type
            and requested.currency == plan.currency
            and requested.amount is not None
            and requested.amount == Decimal(payment_amount(plan))
        ):
            return plan
    return None
