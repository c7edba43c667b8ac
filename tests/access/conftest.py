"""The app as crawlers meet it, with the bundled plans plus two made for limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.access.runtime import HotPath
from licensing_api.main import create_app
from licensing_api.resources import Resources
from licensing_api.settings import BUNDLED_PLANS_FILE, Settings

LIMITS_PLANS = """
[plans.capped]
name = "Capped"
kind = "fixed"
currency = "usd"
base_amount = 100
cap_units = 3
rate_limit_per_second = 100000

[plans.slow]
name = "Slow"
kind = "hybrid"
currency = "usd"
base_amount = 100
included_units = 10
unit_amount_decimal = "0.1"
rate_limit_per_second = 1
"""


@dataclass
class Api:
    client: AsyncClient
    resources: Resources
    hot_path: HotPath  # this (only) worker's cache, guard and tally


@pytest.fixture
async def api(settings: Settings, tmp_path: Path) -> AsyncIterator[Api]:
    plans = tmp_path / "plans.toml"
    plans.write_text(BUNDLED_PLANS_FILE.read_text() + LIMITS_PLANS)
    app = create_app(settings.model_copy(update={"plans_file": plans}))
    async with LifespanManager(app) as manager:
        state = manager._state  # type: ignore[attr-defined]
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, state["resources"], state["hot_path"])
