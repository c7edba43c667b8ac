"""/license.xml: the site's terms in the RSL 1.0 vocabulary, checked against its documented
structure (https://rslstandard.org/rsl): namespace, required elements and attributes, allowed
values, one <license> with one <payment> per plan at the plan's price."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.pricing import to_major_units
from licensing_api.settings import RSL_USAGE_TOKENS

NS = "{https://rslstandard.org/rsl}"
PAYMENT_TYPES = {"purchase", "subscription", "training", "crawl", "use", "contribution", "attribution", "free"}
LEGAL_TYPES = {"warranty", "disclaimer", "attestation", "contact", "proof"}
WARRANTIES = {"ownership", "authority", "no-infringement", "privacy-consent", "no-malware"}
DISCLAIMERS = {"as-is", "no-warranty", "no-liability", "no-indemnity"}


async def fetch_rsl(http) -> ET.Element:
    response = await http.get("/license.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rsl+xml")
    return ET.fromstring(response.content)


async def test_license_xml_is_an_rsl_document_in_the_rsl_namespace(client):
    root = await fetch_rsl(client)
    assert root.tag == f"{NS}rsl"
    contents = root.findall(f"{NS}content")
    assert len(contents) == 1
    for element in root.iter():
        assert element.tag.startswith(NS), f"{element.tag} is outside the RSL namespace"


async def test_content_names_the_licensed_urls_and_the_license_server(client, settings):
    content = (await fetch_rsl(client)).find(f"{NS}content")
    assert content.get("url") == f"{settings.public_base_url}/v1/content*"
    assert content.get("server") == f"{settings.public_base_url}/olp"
    assert content.find(f"{NS}terms").text == f"{settings.public_base_url}/license"


async def test_each_plan_is_one_license_with_one_payment_at_its_price(client, settings):
    catalogue = load_catalogue(settings.plans_file)
    licenses = (await fetch_rsl(client)).find(f"{NS}content").findall(f"{NS}license")
    assert len(licenses) == len(catalogue)
    by_plan = {}
    for license_ in licenses:
        payments = license_.findall(f"{NS}payment")
        assert len(payments) == 1
        custom = payments[0].find(f"{NS}custom").text
        by_plan[custom.rsplit("#plan-", 1)[1]] = payments[0]
    for plan in catalogue:
        payment = by_plan[plan.id]
        amount = payment.find(f"{NS}amount")
        assert payment.get("type") in PAYMENT_TYPES
        assert amount.get("currency") == plan.currency.upper()
        if plan.has_base_fee:
            assert payment.get("type") == "subscription"
            assert Decimal(amount.text) == to_major_units(Decimal(plan.base_amount), plan.currency)
        else:
            assert payment.get("type") == "crawl"
            assert Decimal(amount.text) == to_major_units(plan.cheapest_unit_price, plan.currency)


async def test_licenses_permit_and_prohibit_the_configured_usage_in_rsl_vocabulary(client, settings):
    for license_ in (await fetch_rsl(client)).iter(f"{NS}license"):
        permits = license_.find(f"{NS}permits")
        prohibits = license_.find(f"{NS}prohibits")
        assert permits.get("type") == "usage" and prohibits.get("type") == "usage"
        assert permits.text.split() == settings.permitted_usage.split()
        assert prohibits.text.split() == settings.prohibited_usage.split()
        assert set(permits.text.split()) <= set(RSL_USAGE_TOKENS)
        assert not set(permits.text.split()) & set(prohibits.text.split())


async def test_licenses_carry_legal_statements_from_the_rsl_vocabulary(client):
    for license_ in (await fetch_rsl(client)).iter(f"{NS}license"):
        legal = {element.get("type"): element.text.split() for element in license_.findall(f"{NS}legal")}
        assert set(legal) <= LEGAL_TYPES
        assert set(legal["warranty"]) <= WARRANTIES
        assert set(legal["disclaimer"]) <= DISCLAIMERS


async def test_terms_settings_shape_the_document(client_with, settings):
    async with client_with(
        settings,
        license_terms_url="https://publisher.example/terms",
        license_contact_email="licensing@publisher.example",
        permitted_usage="all",
        prohibited_usage="",
    ) as http:
        root = await fetch_rsl(http)
    content = root.find(f"{NS}content")
    assert content.find(f"{NS}terms").text == "https://publisher.example/terms"
    for license_ in content.findall(f"{NS}license"):
        assert license_.find(f"{NS}permits").text == "all"
        assert license_.find(f"{NS}prohibits") is None
        contact = [e.text for e in license_.findall(f"{NS}legal") if e.get("type") == "contact"]
        assert contact == ["mailto:licensing@publisher.example"]
