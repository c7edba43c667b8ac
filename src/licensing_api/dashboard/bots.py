"""The dashboard's verified-bots section and per-path prices: what it shows, from the same
services as the JSON API (`bots/service.py`, `billing/pricing.py`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.price_rules import DEFAULT_UNITS, PriceRules
from licensing_api.billing.pricing import request_amount_exact
from licensing_api.bots.service import BotView
from licensing_api.standards.paypercrawl import CrawlerPrice


@dataclass(frozen=True, slots=True)
class BotRow:
    id: uuid.UUID
    name: str
    source: str  # the directory URL, or "uploaded keys"
    keyids: list[str]
    credential_id: uuid.UUID  # its usage is counted under this key id
    fresh_until: datetime | None
    error: str | None
    period_units: int = 0
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PathPrice:
    pattern: str  # RFC 9309 pattern, or "(any other path)"
    units: int
    price: str  # this request's price now, under the plan, e.g. "USD 0.003"


def bot_rows(views: list[BotView]) -> list[BotRow]:
    return [
        BotRow(
            id=view.bot.id, name=view.bot.name, source=view.bot.directory_url or "uploaded keys",
            keyids=[key.thumbprint for key in view.keys], credential_id=view.bot.api_key_id,
            fresh_until=view.bot.directory_fresh_until, error=view.bot.directory_error,
        )
        for view in views
    ]


def path_prices(plan: PlanSpec, rules: PriceRules, units_used: int) -> list[PathPrice]:
    """The price one request of each rule costs now (after `units_used` this period)."""
    def price(units: int) -> str:
        amount = request_amount_exact(plan.tiers, units_used, units) if plan.tiers else 0
        return CrawlerPrice.from_minor(amount, plan.currency).header_value()

    rows = [PathPrice(rule.pattern, rule.units, price(rule.units)) for rule in rules]
    rows.append(PathPrice("(any other path)", DEFAULT_UNITS, price(DEFAULT_UNITS)))
    return rows
