"""The dashboard in a real browser (headless Chromium) against the running service."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from tests.support.browser import screenshot, wait_for

pytestmark = pytest.mark.slow


async def _customer(resources, email: str, plan: str = "standard"):
    async with session_scope(resources.sessionmaker) as session:
        return await provision_local_customer(session, email, resources.catalogue.get(plan))


def sign_in(browser, base_url: str, secret: str) -> None:
    browser.delete_all_cookies()
    browser.get(base_url + "/dashboard")
    field = wait_for(browser, "#api-key")
    field.send_keys(secret)
    browser.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()
    wait_for(browser, "#units-used")


async def test_signing_in_with_a_key_shows_the_account(browser, live_service, resources):
    provisioned = await _customer(resources, "browser-sign-in@example.com")
    sign_in(browser, live_service, provisioned.first_key.secret)
    assert browser.find_element(By.ID, "plan-name").text == "Standard"
    assert browser.find_element(By.ID, "account-state").text.lower() == "active"
    rows = browser.find_elements(By.CSS_SELECTOR, "#keys-table tbody tr")
    assert [r.get_attribute("data-prefix") for r in rows] == [provisioned.first_key.key.prefix]
    cookie = browser.get_cookie("licensing_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert provisioned.first_key.secret not in cookie["value"]
    path = screenshot(browser, "dashboard-signed-in")
    assert path.stat().st_size > 10_000
