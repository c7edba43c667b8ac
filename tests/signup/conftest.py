from __future__ import annotations

from pathlib import Path

import pytest

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.plans import PlanSpec
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from tests.billing.stripe_setup import unique_catalogue, with_billing


@pytest.fixture
def plan_ids(tmp_path: Path) -> dict[str, str]:
    return unique_catalogue(tmp_path, ("standard",))[1]


@pytest.fixture
def settings(settings: Settings, stripe_server, tmp_path: Path, plan_ids) -> Settings:  # type: ignore[no-untyped-def]
    """The app with billing on, against the local Stripe server, with a catalogue of its own."""
    (plans_file,) = tmp_path.glob("plans-*.toml")
    return with_billing(settings, stripe_server, plans_file,
                        public_base_url="https://publisher.example")


@pytest.fixture
async def standard(resources: Resources, plan_ids: dict[str, str]) -> PlanSpec:
    await sync_catalogue(resources, resources.stripe)  # type: ignore[arg-type]
    return resources.catalogue.get(plan_ids["standard"])  # type: ignore[return-value]
