"""The dashboard in a real browser (headless Chromium) against the running service, billing off.

One browser and one service for the module; each test signs in as a customer of its own.
"""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from licensing_api.billing.pricing import format_amount
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from tests.dashboard.browser_steps import crawl, refused_within, shown, sign_in
from tests.support.browser import screenshot, wait_for

pytestmark = pytest.mark.slow

async def _customer(resources, email: str, plan: str = "standard"):
    async with session_scope(resources.sessionmaker) as session:
        return await provision_local_customer(session, email, resources.catalogue.get(plan))


async def test_the_numbers_on_the_page_equal_v1_usage_after_a_known_number_of_requests(
    browser, live_service, resources
):
    provisioned = await _customer(resources, "browser-usage@example.com")
    secret = provisioned.first_key.secret
    assert crawl(live_service, secret, 7) == [200] * 7
    with httpx.Client(base_url=live_service) as http:
        usage = http.get("/v1/usage", headers={"X-API-Key": secret}).json()

    sign_in(browser, live_service, secret)

    assert shown(browser, "units-used") == usage["units"] == 7
    assert shown(browser, "included-units") == usage["included_units"] == 1000
    assert shown(browser, "overage-units") == usage["overage_units"] == 0
    assert shown(browser, "estimated-total") == usage["estimated_amount"] == 10000
    assert browser.find_element(By.ID, "estimated-total").text == format_amount(10000, "usd")
    assert browser.find_element(By.ID, "plan-name").text == usage["plan_name"]
    key_row = browser.find_element(By.CSS_SELECTOR, f'tr[data-prefix="{provisioned.first_key.key.prefix}"]')
    assert key_row.find_element(By.CSS_SELECTOR, ".key-status").text == "active"
    assert key_row.find_element(By.CSS_SELECTOR, ".key-last-used").text != "never"  # last used
    assert screenshot(browser, "dashboard-desktop").stat().st_size > 10_000
    browser.set_window_size(390, 844)
    try:
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        ), "the page scrolls sideways on a phone"
        screenshot(browser, "dashboard-phone")
    finally:
        browser.set_window_size(1280, 1000)


async def test_a_key_created_on_the_page_serves_content_and_once_revoked_is_refused(
    browser, live_service, resources
):
    provisioned = await _customer(resources, "browser-keys@example.com")
    sign_in(browser, live_service, provisioned.first_key.secret)

    browser.find_element(By.ID, "new-key-name").send_keys("crawler-eu")
    browser.find_element(By.ID, "create-key").click()
    secret = wait_for(browser, "#new-key-secret").get_attribute("value")
    assert secret.startswith("lk_")
    assert crawl(live_service, secret, 2) == [200, 200]  # now cached by the worker

    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-prefix="{secret[:11]}"]')
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    assert "Key revoked" in wait_for(browser, "#notice").text
    assert refused_within(live_service, secret, 1.0) == 403
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-prefix="{secret[:11]}"]')
    assert row.find_element(By.CSS_SELECTOR, ".key-status").text == "revoked"
    assert crawl(live_service, provisioned.first_key.secret, 1) == [200]  # the other key still works


async def test_signing_out_returns_to_the_sign_in_form(browser, live_service, resources):
    provisioned = await _customer(resources, "browser-sign-out@example.com")
    sign_in(browser, live_service, provisioned.first_key.secret)
    session_cookie = browser.get_cookie("licensing_dashboard")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
    assert provisioned.first_key.secret not in session_cookie["value"]

    browser.find_element(By.ID, "sign-out").click()

    assert "signed out" in wait_for(browser, "#notice").text
    assert browser.find_elements(By.ID, "api-key")
    assert browser.get_cookie("licensing_dashboard") is None
    browser.get(live_service + "/dashboard")
    assert browser.find_elements(By.ID, "api-key") and not browser.find_elements(By.ID, "units-used")


async def test_signing_in_works_from_the_keyboard_alone_with_a_visible_focus(browser, live_service, resources):
    provisioned = await _customer(resources, "browser-keyboard@example.com")
    browser.delete_all_cookies()
    browser.get(live_service + "/dashboard")
    wait_for(browser, "#api-key")
    screenshot(browser, "dashboard-sign-in")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the skip link comes first
    assert browser.switch_to.active_element.get_attribute("class") == "skip-link"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    field = browser.switch_to.active_element
    assert field.get_attribute("id") == "api-key"
    outline = browser.execute_script(
        "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineColor]", field
    )
    assert outline == ["solid", "rgb(255, 191, 71)"]  # the stylesheet's high-contrast focus ring
    field.send_keys(provisioned.first_key.secret, Keys.ENTER)
    wait_for(browser, "#units-used")
    assert browser.find_element(By.ID, "account-state").text.lower() == "active"
