"""Steps of the dashboard's browser tests: sign in, read a figure, crawl with a key."""

from __future__ import annotations

import time

import httpx
from selenium.webdriver.common.by import By

from tests.support.browser import wait_for

ARTICLE = "/v1/content/caring-for-cast-iron"


def sign_in(browser, base_url: str, secret: str) -> None:
    browser.delete_all_cookies()
    browser.get(base_url + "/dashboard")
    wait_for(browser, "#api-key").send_keys(secret)
    browser.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()
    wait_for(browser, "#units-used")


def shown(browser, element_id: str) -> int:
    """The exact number behind a figure on the page (its `data-value`)."""
    return int(browser.find_element(By.ID, element_id).get_attribute("data-value"))


def crawl(base_url: str, secret: str, times: int) -> list[int]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {secret}"}) as http:
        return [http.get(ARTICLE).status_code for _ in range(times)]


def refused_within(base_url: str, secret: str, seconds: float) -> int:
    """The first non-200 status for `secret` within `seconds` (200 if it never stops working)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {secret}"}) as http:
        while True:
            status = http.get(ARTICLE).status_code
            if status != 200 or time.monotonic() > deadline:
                return status
            time.sleep(0.05)
