"""The operator console in a real browser, with billing on against the local Stripe server.

The service runs with its usage flusher on a database of its own (the overview sums every
customer, so no other test's customers may count). Two customers crawl a known number of
requests; the overview must equal `/v1/usage` summed and the invoices Stripe issued. Then the
operator retries a failed report, changes a plan, suspends and reinstates a customer, and a
screenshot of each page is saved under artifacts/ (the paths are printed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.models import Plan
from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.provisioning import record_stripe_subscription
from licensing_api.billing.service import subscription_items
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import open_resources
from licensing_api.settings import Settings
from licensing_api.usage.models import ReportState, UsageReport
from tests.dashboard.conftest import service_settings
from tests.support import infra
from tests.support.browser import running_service, screenshot, wait_for

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "console-browser-admin-token-0123456789"
ARTICLE = "/v1/content/caring-for-cast-iron"
REQUESTS = {"first": 27, "second": 9}
FAILED_REPORT_UNITS = 4
PLAN_TOML = """
[plans.{prefix}-basic]
name = "Console e2e basic"
kind = "hybrid"
currency = "usd"
interval = "month"
base_amount = 1000
included_units = 20
unit_amount_decimal = "0.25"
rate_limit_per_second = 1000

[plans.{prefix}-plus]
name = "Console e2e plus"
kind = "hybrid"
currency = "usd"
interval = "month"
base_amount = 2500
included_units = 100
unit_amount_decimal = "0.10"
rate_limit_per_second = 1000
"""


@dataclass(frozen=True)
class ConsoleService:
    url: str
    settings: Settings
    basic: str
    plus: str


@dataclass(frozen=True)
class Crawler:
    email: str
    secret: str
    customer_id: uuid.UUID
    stripe_customer_id: str
    subscription_id: str
    usage_item_id: uuid.UUID


@pytest.fixture(scope="module")
async def own_database() -> AsyncIterator[str]:
    name = await infra.create_database("licensing_console")
    url = infra.async_url(name)
    await asyncio.to_thread(infra.migrate, url)
    yield url
    await infra.drop_database(name)


@pytest.fixture(scope="module")
def console_service(own_database, redis_prefix, stripe_server, tmp_path_factory) -> Iterator[ConsoleService]:
    prefix = f"c{uuid.uuid4().hex[:6]}"
    plans_file = tmp_path_factory.mktemp("plans") / "plans.toml"
    plans_file.write_text(PLAN_TOML.format(prefix=prefix))
    built: list[Settings] = []

    def settings_for(base_url: str) -> Settings:
        built.append(service_settings(
            own_database, redis_prefix + "console:", base_url,
            stripe_api_key=stripe_server.api_key, stripe_api_base=stripe_server.url,
            plans_file=plans_file, usage_flush_interval_seconds=0.5, admin_token=SecretStr(ADMIN_TOKEN),
        ))
        return built[0]

    with running_service(settings_for) as url:
        yield ConsoleService(url, built[0], f"{prefix}-basic", f"{prefix}-plus")


async def _crawlers(service: ConsoleService, stripe_client) -> dict[str, Crawler]:
    """Customers on a test clock started now, subscribed to the basic plan, mirrored locally."""
    settings = service.settings
    result = {}
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        await sync_catalogue(resources, resources.stripe)
        spec = resources.catalogue.get(service.basic)
        async with session_scope(resources.sessionmaker) as session:
            plan = await session.get(Plan, spec.id)
        for name in REQUESTS:
            clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time())})
            email = f"console-{name}-{uuid.uuid4().hex[:6]}@example.com"
            customer = stripe_client.v1.customers.create({
                "email": email, "test_clock": clock.id,
                "invoice_settings": {"default_payment_method": "pm_card_visa"}})
            subscription = stripe_client.v1.subscriptions.create(
                {"customer": customer.id, "items": subscription_items(plan)})
            async with session_scope(resources.sessionmaker) as session:
                provisioned = await record_stripe_subscription(session, spec, email, subscription, source="test")
            result[name] = Crawler(email, provisioned.first_key.secret, provisioned.customer.id, customer.id,
                                   subscription.id, provisioned.usage_item.id)
    return result


def _crawl(url: str, secret: str, times: int) -> list[int]:
    headers = {"Authorization": f"Bearer {secret}", "User-Agent": "GPTBot/1.2"}
    with httpx.Client(base_url=url, headers=headers) as http:
        return [http.get(ARTICLE).status_code for _ in range(times)]


def _wait_until(condition, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _shown(browser, element_id: str) -> int:
    return int(browser.find_element(By.ID, element_id).get_attribute("data-value"))


def _submit(browser, button) -> None:
    """Click a form's button and wait until the answer's page has replaced this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(page))


def _save(browser, name: str) -> None:
    print(f"screenshot: {screenshot(browser, name)}")


def _sign_in(browser, url: str) -> None:
    browser.delete_all_cookies()
    browser.get(url + "/console")
    wait_for(browser, "#admin-token").send_keys(ADMIN_TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()
    wait_for(browser, "#current-units")


async def _failed_report(service: ConsoleService, item_id: uuid.UUID) -> str:
    """A report Stripe rejected for good (as `usage/sending.py` leaves one), due a retry."""
    report_id = f"console-e2e-{uuid.uuid4().hex}"
    now = utcnow()
    settings = service.settings
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        async with session_scope(resources.sessionmaker) as session:
            session.add(UsageReport(
                id=report_id, subscription_item_id=item_id, units=FAILED_REPORT_UNITS,
                period_start=now - timedelta(minutes=5), period_end=now + timedelta(days=27),
                usage_at=now, dedup_from=now, last_attempt_at=now, state=ReportState.FAILED, attempts=3,
                last_error="stripe rejected: simulated outage",
            ))
    return report_id


async def test_the_operator_console_end_to_end(browser, console_service, stripe_server):
    service, stripe_client = console_service, stripe_server.stripe_client()
    crawlers = await _crawlers(service, stripe_client)
    spec_meter = load_catalogue(service.settings.plans_file).get(service.basic).meter_event_name
    for name, times in REQUESTS.items():
        assert _crawl(service.url, crawlers[name].secret, times) == [200] * times
    for name, times in REQUESTS.items():
        _wait_until(lambda c=crawlers[name], t=times: stripe_server.meter_event_total(
            spec_meter, c.stripe_customer_id) == t, "the flusher did not report the usage to Stripe")
    with httpx.Client(base_url=service.url) as http:
        usages = [http.get("/v1/usage", headers={"X-API-Key": c.secret}).json() for c in crawlers.values()]
    invoices = [i for c in crawlers.values()
                for i in stripe_client.v1.invoices.list({"customer": c.stripe_customer_id}).data
                if i.status in ("open", "paid")]

    # Overview: the figures are /v1/usage summed and Stripe's invoices.
    _sign_in(browser, service.url)
    assert _shown(browser, "current-units") == sum(u["units"] for u in usages) == sum(REQUESTS.values())
    assert _shown(browser, "current-estimated-usd") == sum(u["estimated_amount"] for u in usages)
    assert _shown(browser, "current-invoiced-usd") == sum(i.amount_due for i in invoices) == 2 * 1000
    assert _shown(browser, "current-customers") == 2
    assert _shown(browser, "state-active") == 2
    row = wait_for(browser, 'tr[data-crawler="GPTBot"]')
    assert int(row.find_element(By.CSS_SELECTOR, ".crawler-licensed").get_attribute("data-value")) >= sum(REQUESTS.values())
    bars = browser.find_elements(By.CSS_SELECTOR, "#daily-chart rect.bar")
    assert sum(int(b.get_attribute("data-units")) for b in bars) == sum(REQUESTS.values())
    _save(browser, "console-overview")

    # Billing health: a failed report, retried from the page, reaches Stripe.
    second = crawlers["second"]
    report_id = await _failed_report(service, second.usage_item_id)
    browser.find_element(By.LINK_TEXT, "Billing health").click()
    row = wait_for(browser, f'tr[data-report-id="{report_id}"]')
    assert row.get_attribute("data-standing") == "failed"
    _save(browser, "console-billing-failed-report")
    _submit(browser, row.find_element(By.CSS_SELECTOR, "button.retry-report"))
    assert "next flush sends it again" in wait_for(browser, "#notice").text
    _wait_until(lambda: stripe_server.meter_event_total(spec_meter, second.stripe_customer_id)
                == REQUESTS["second"] + FAILED_REPORT_UNITS, "the retried report did not reach Stripe")
    browser.refresh()
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-report-id="{report_id}"]')
    _save(browser, "console-billing")

    # Customers: find the first customer, change its plan now.
    first = crawlers["first"]
    browser.find_element(By.LINK_TEXT, "Customers").click()
    wait_for(browser, "#search-q").send_keys(first.email)
    _submit(browser, browser.find_element(By.ID, "search"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.customer-row")
    assert [r.get_attribute("data-customer-id") for r in rows] == [str(first.customer_id)]
    assert int(rows[0].find_element(By.CSS_SELECTOR, ".customer-units").get_attribute("data-value")) == REQUESTS["first"]
    _save(browser, "console-customers")
    rows[0].find_element(By.TAG_NAME, "a").click()
    wait_for(browser, "#plan-choice").find_element(By.CSS_SELECTOR, f'option[value="{service.plus}"]').click()
    browser.find_element(By.ID, "when-now").click()
    _submit(browser, browser.find_element(By.ID, "change-plan"))
    assert "Plan changed" in wait_for(browser, "#notice").text
    assert browser.find_element(By.ID, "plan-id").get_attribute("data-plan") == service.plus
    stripe_prices = {i.price.id for i in stripe_client.v1.subscriptions.retrieve(first.subscription_id)["items"].data}
    async with open_resources(service.settings, load_catalogue(service.settings.plans_file)) as resources:
        async with session_scope(resources.sessionmaker) as session:
            plus = await session.get(Plan, service.plus)
    assert plus.stripe_base_price_id in stripe_prices
    _save(browser, "console-customer-plan-changed")

    # Suspend, then reinstate, the second customer; its key stops, then works again.
    browser.get(f"{service.url}/console/customers/{second.customer_id}")
    wait_for(browser, "#suspend-reason").send_keys("unpaid invoice")
    _submit(browser, browser.find_element(By.ID, "suspend"))
    assert wait_for(browser, "#account-state").get_attribute("data-state") == "suspended"
    assert _crawl(service.url, second.secret, 1) == [402]
    wait_for(browser, "#reinstate-reason").send_keys("paid by bank transfer")
    _submit(browser, browser.find_element(By.ID, "reinstate"))
    assert "reinstated" in wait_for(browser, "#notice").text
    assert browser.find_element(By.ID, "account-state").get_attribute("data-state") == "active"
    assert _crawl(service.url, second.secret, 1) == [200]
    audit = [r.get_attribute("data-to-state") for r in browser.find_elements(By.CSS_SELECTOR, "tr.audit-row")]
    assert audit[:2] == ["active", "suspended"]  # newest first
    _save(browser, "console-customer-reinstated")

    # Content: the article's units (one a request), this month and the last, once moved to Redis.
    browser.find_element(By.LINK_TEXT, "Content").click()
    wait_for(browser, "#content-current")

    def article_units() -> int:
        browser.refresh()
        cells = browser.find_elements(By.CSS_SELECTOR, f'tr[data-path="{ARTICLE}"] .content-units')
        return sum(int(c.get_attribute("data-value")) for c in cells)

    _wait_until(lambda: article_units() == sum(REQUESTS.values()) + 1, "the content page did not count the article")
    _save(browser, "console-content")
