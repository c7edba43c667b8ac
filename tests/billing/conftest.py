from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.plans import PlanCatalogue, PlanSpec, load_catalogue
from licensing_api.resources import Resources, open_resources
from licensing_api.settings import Settings
from tests.billing.stripe_setup import unique_catalogue, with_billing


@pytest.fixture
def plan_ids(tmp_path: Path) -> dict[str, str]:
    """Bundled plan id → this test's plan id (its Stripe objects are fresh)."""
    return unique_catalogue(tmp_path)[1]


@pytest.fixture
def billing_settings(settings: Settings, stripe_server, tmp_path: Path, plan_ids) -> Settings:  # type: ignore[no-untyped-def]
    (plans_file,) = tmp_path.glob("plans-*.toml")
    return with_billing(settings, stripe_server, plans_file)


@pytest.fixture
def catalogue(billing_settings: Settings) -> PlanCatalogue:
    return load_catalogue(billing_settings.plans_file)


@pytest.fixture
async def billing_resources(billing_settings: Settings, catalogue: PlanCatalogue) -> AsyncIterator[Resources]:
    """What the CLI builds: settings, database, Redis and the service's own Stripe client."""
    async with open_resources(billing_settings, catalogue) as resources:
        yield resources


@pytest.fixture
async def standard(billing_resources: Resources, catalogue: PlanCatalogue, plan_ids: dict[str, str]) -> PlanSpec:
    """This test's `standard` (hybrid) plan, synced to Stripe."""
    spec = catalogue.get(plan_ids["standard"])
    assert spec is not None
    await sync_catalogue(billing_resources, billing_resources.stripe, plans=[spec])  # type: ignore[arg-type]
    return spec
