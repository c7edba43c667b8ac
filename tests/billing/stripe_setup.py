"""Test setup shared by billing and signup tests: billing on, against the local Stripe server.

The Stripe server lives for the whole test run, so each test gets a catalogue of its own
(plan ids with a random suffix): its products, meters and lookup keys are fresh.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from licensing_api.settings import BUNDLED_PLANS_FILE, Settings, load_settings


def unique_catalogue(folder: Path, plan_ids: tuple[str, ...] | None = None) -> tuple[Path, dict[str, str]]:
    """A copy of the bundled plans with unique ids; returns the file and bundled id → new id."""
    suffix = uuid.uuid4().hex[:8]
    sections = re.split(r"(?m)^(?=\[plans\.)", BUNDLED_PLANS_FILE.read_text())
    renamed: dict[str, str] = {}
    kept = []
    for section in sections[1:]:
        plan_id = re.match(r"\[plans\.([a-z0-9-]+)\]", section).group(1)  # type: ignore[union-attr]
        if plan_ids is None or plan_id in plan_ids:
            renamed[plan_id] = f"{plan_id}-{suffix}"
            kept.append(section.replace(f"[plans.{plan_id}]", f"[plans.{renamed[plan_id]}]", 1))
    path = folder / f"plans-{suffix}.toml"
    path.write_text("".join(kept))
    return path, renamed


def with_billing(base: Settings, stripe_server: Any, plans_file: Path, **overrides: Any) -> Settings:
    values = base.model_dump()
    values.update(
        stripe_api_key=stripe_server.api_key,
        stripe_api_base=stripe_server.url,
        plans_file=plans_file,
        **overrides,
    )
    return load_settings(**values, _env_file=None)


def unique_email() -> str:
    return f"crawler-{uuid.uuid4().hex[:10]}@example.com"
