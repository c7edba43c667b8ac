"""End-to-end test support: the service on a loopback port and a headless Chromium to drive it.

Chromium and its driver are the Debian packages (`chromium`, `chromium-driver`; scripts/test
installs them). Selenium is given both paths, so Selenium Manager never downloads anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from licensing_api.main import create_app
from licensing_api.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"
WAIT_SECONDS = 10


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextlib.contextmanager
def headless_chromium(window_size: tuple[int, int] = (1280, 1000)) -> Iterator[WebDriver]:
    """One headless Chromium with a fresh profile, quit and deleted at the end."""
    profile = tempfile.mkdtemp(prefix="licensing-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={window_size[0]},{window_size[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def running_service(settings_for: Callable[[str], Settings]) -> Iterator[str]:
    """The real app (lifespan, background tasks) under uvicorn in a thread; yields its base URL.

    `settings_for(base_url)` builds the settings once the loopback port is known, so
    `PUBLIC_BASE_URL` (links, redirects) names the address the browser really uses.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings_for(base_url)), log_level="warning", access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="licensing-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("licensing-api did not start")
        time.sleep(0.02)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def wait_for(driver: WebDriver, css: str, seconds: float = WAIT_SECONDS):  # type: ignore[no-untyped-def]
    """The element matching `css` once it is present."""
    return WebDriverWait(driver, seconds).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def screenshot(driver: WebDriver, name: str) -> Path:
    """A full-height PNG of the current page under artifacts/ (ignored by git)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(int(height) + 140, 600))
    path = ARTIFACTS_DIR / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
