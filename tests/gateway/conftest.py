"""A real origin serving the test site, and the gateway in front of it (module-wide: starting
processes costs seconds), with the settings and resources to arrange crawlers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from licensing_api.billing.plans import load_catalogue
from licensing_api.resources import Resources, open_resources
from licensing_api.settings import Settings, load_settings
from tests.access.service_process import ServiceProcess
from tests.gateway.processes import OriginProcess, running_gateway, running_origin
from tests.gateway.site import FREE_PATHS, PLANS, SITE_URL, build_site
from tests.support import infra


@pytest.fixture(scope="module")
def gateway_settings(database_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    plans = tmp_path_factory.mktemp("gateway-plans") / "plans.toml"
    plans.write_text(PLANS)
    return load_settings(
        database_url=database_url,
        redis_url=infra.TEST_REDIS_URL,
        redis_key_prefix=f"{redis_prefix}gw-{uuid.uuid4().hex[:8]}:",
        plans_file=plans,
        gateway_public_url=SITE_URL,
        free_paths=FREE_PATHS,
        _env_file=None,
    )


@pytest.fixture(scope="module")
async def gateway_resources(gateway_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(gateway_settings, load_catalogue(gateway_settings.plans_file)) as resources:
        yield resources


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
async def origin(site_folder: Path) -> AsyncIterator[OriginProcess]:
    async with running_origin(site_folder) as process:
        yield process


@pytest.fixture(scope="module")
async def gateway(gateway_settings: Settings, origin: OriginProcess) -> AsyncIterator[ServiceProcess]:
    async with running_gateway(
        gateway_settings, origin.base_url, GATEWAY_PUBLIC_URL=SITE_URL, FREE_PATHS=FREE_PATHS
    ) as process:
        yield process


@pytest.fixture
async def through_gateway(gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=120) as http:
        yield http
