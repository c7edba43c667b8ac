"""The dashboard with billing on, against the local Stripe server, in a real browser.

The service runs with its usage flusher; units served reach Stripe as meter events, a test
clock closes the period, and the invoice Stripe computes must equal the page's estimate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from selenium.webdriver.common.by import By

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.models import Plan
from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.pricing import estimate_bill
from licensing_api.billing.provisioning import record_stripe_subscription
from licensing_api.billing.service import subscription_items
from licensing_api.db import session_scope
from licensing_api.resources import open_resources
from licensing_api.settings import Settings
from tests.dashboard.conftest import service_settings
from tests.dashboard.browser_steps import crawl, shown, sign_in
from tests.support.browser import running_service, screenshot, wait_for
from tests.stripe_server.helpers import advance_clock

pytestmark = pytest.mark.slow

# Small numbers keep the test fast and still cross a tier and round: 27 requests = 20 included
# + 7 × 0.25 cent = 1.75 cent → 2 cents, plus the 10.00 USD base fee.
REQUESTS = 27
PLAN_TOML = """
[plans.{plan_id}]
name = "Dashboard e2e"
kind = "hybrid"
currency = "usd"
interval = "month"
base_amount = 1000
included_units = 20
unit_amount_decimal = "0.25"
rate_limit_per_second = 1000
"""


@dataclass(frozen=True)
class BillingService:
    url: str
    settings: Settings
    plan_id: str


@pytest.fixture(scope="module")
def billing_service(database_url, redis_prefix, stripe_server, tmp_path_factory) -> Iterator[BillingService]:
    """The service with billing on; its own Redis prefix, so no billing-off flusher takes its usage."""
    plan_id = f"e2e-{uuid.uuid4().hex[:8]}"
    plans_file = tmp_path_factory.mktemp("plans") / "plans.toml"
    plans_file.write_text(PLAN_TOML.format(plan_id=plan_id))
    built: list[Settings] = []

    def settings_for(base_url: str) -> Settings:
        built.append(service_settings(
            database_url, redis_prefix + "billing:", base_url,
            stripe_api_key=stripe_server.api_key, stripe_api_base=stripe_server.url,
            plans_file=plans_file, usage_flush_interval_seconds=0.5,
        ))
        return built[0]

    with running_service(settings_for) as url:
        yield BillingService(url, built[0], plan_id)


async def _clocked_customer(service: BillingService, stripe_client):
    """A Stripe customer on a test clock started now, subscribed to the plan, mirrored locally."""
    settings = service.settings
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        await sync_catalogue(resources, resources.stripe)
        spec = resources.catalogue.get(service.plan_id)
        async with session_scope(resources.sessionmaker) as session:
            plan = await session.get(Plan, spec.id)
        clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time())})
        email = f"billing-{uuid.uuid4().hex[:8]}@example.com"
        customer = stripe_client.v1.customers.create({
            "email": email, "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": "pm_card_visa"}})
        subscription = stripe_client.v1.subscriptions.create(
            {"customer": customer.id, "items": subscription_items(plan)})
        async with session_scope(resources.sessionmaker) as session:
            provisioned = await record_stripe_subscription(session, spec, email, subscription, source="test")
    return spec, clock, customer, subscription, provisioned.first_key.secret


def _wait_for_meter_total(stripe_server, event_name: str, customer_id: str, units: int) -> None:
    deadline = time.monotonic() + 20
    while stripe_server.meter_event_total(event_name, customer_id) < units:
        assert time.monotonic() < deadline, "the flusher did not report the usage to Stripe"
        time.sleep(0.2)
    assert stripe_server.meter_event_total(event_name, customer_id) == units


async def test_the_estimate_on_the_page_equals_the_invoice_stripe_computes(
    browser, billing_service, stripe_server
):
    stripe_client = stripe_server.stripe_client()
    spec, clock, customer, subscription, secret = await _clocked_customer(billing_service, stripe_client)
    assert crawl(billing_service.url, secret, REQUESTS) == [200] * REQUESTS
    _wait_for_meter_total(stripe_server, spec.meter_event_name, customer.id, REQUESTS)
    with httpx.Client(base_url=billing_service.url) as http:
        usage = http.get("/v1/usage", headers={"X-API-Key": secret}).json()

    sign_in(browser, billing_service.url, secret)
    page_units, page_total = shown(browser, "units-used"), shown(browser, "estimated-total")
    page_usage_amount = shown(browser, "usage-amount")
    assert page_units == usage["units"] == REQUESTS
    assert page_total == usage["estimated_amount"] == estimate_bill(spec, REQUESTS).total_amount == 1002

    period_end = subscription["items"].data[0].current_period_end
    advance_clock(stripe_client, clock.id, period_end + 3600)  # the draft finalizes
    invoice = next(i for i in stripe_client.v1.invoices.list({"customer": customer.id}).data
                   if i.billing_reason == "subscription_cycle")
    metered_price = subscription_items_price(stripe_client, subscription.id)
    metered_lines = [line.amount for line in invoice.lines.data
                     if line.pricing.price_details.price == metered_price]
    assert invoice.amount_due == page_total
    assert sum(metered_lines) == page_usage_amount == 2

    browser.refresh()
    row = wait_for(browser, f'tr[data-invoice-id="{invoice.id}"]')
    assert int(row.find_element(By.CSS_SELECTOR, ".invoice-amount").get_attribute("data-value")) == invoice.amount_due
    assert row.find_element(By.TAG_NAME, "a").get_attribute("href") == invoice.hosted_invoice_url
    screenshot(browser, "dashboard-billing")


def subscription_items_price(stripe_client, subscription_id: str) -> str:
    items = stripe_client.v1.subscriptions.retrieve(subscription_id)["items"].data
    return next(i.price.id for i in items if i.price.recurring.usage_type == "metered")


async def test_the_payment_method_button_opens_the_stripe_billing_portal(
    browser, billing_service, stripe_server
):
    stripe_client = stripe_server.stripe_client()
    *_, secret = await _clocked_customer(billing_service, stripe_client)
    sign_in(browser, billing_service.url, secret)

    browser.find_element(By.ID, "billing-portal").click()

    deadline = time.monotonic() + 10
    while not browser.current_url.startswith(stripe_server.url + "/billing_portal/"):
        assert time.monotonic() < deadline, f"still on {browser.current_url}: {browser.get_log('browser')}"
        time.sleep(0.1)
