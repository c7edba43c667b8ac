"""Dashboard fixtures: the service on a loopback port and one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from licensing_api.settings import Settings, load_settings
from tests.support import infra
from tests.support.browser import browser_available, headless_chromium, running_service

SESSION_SECRET = "dashboard-tests-session-secret-0123456789"


def service_settings(database_url: str, redis_prefix: str, base_url: str, **overrides: object) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=infra.TEST_REDIS_URL,
        redis_key_prefix=redis_prefix,
        public_base_url=base_url,
        session_secret=SESSION_SECRET,
        _env_file=None,
        **overrides,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not browser_available():
        pytest.fail("chromium and chromedriver are missing: apt-get install -y chromium chromium-driver")
    with headless_chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def live_service(database_url: str, redis_prefix: str) -> Iterator[str]:
    """The service with billing off, serving on a loopback port; yields its base URL."""
    with running_service(lambda url: service_settings(database_url, redis_prefix, url)) as base_url:
        yield base_url
