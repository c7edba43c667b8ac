"""The plan catalogue: `plans.toml` parsed into immutable, validated `PlanSpec`s."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from licensing_api.billing.models import PlanKind
from licensing_api.billing.currencies import THREE_DECIMAL_CURRENCIES
from licensing_api.billing.price_rules import PriceRuleError, PriceRules, parse_price_rules

PLAN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
INTERVALS = ("month", "year")


class CatalogueError(ValueError):
    """The plan catalogue is invalid; the message names the plan, the field and the fix."""


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: int | None  # None = infinity
    unit_amount_decimal: Decimal  # minor units per unit, may be fractional
    flat_amount: int = 0


@dataclass(frozen=True, slots=True)
class PlanSpec:
    id: str  # also the Stripe lookup key stem
    name: str
    kind: PlanKind
    currency: str
    interval: str
    base_amount: int
    included_units: int
    tiers: tuple[Tier, ...]  # metered price tiers; empty for fixed plans
    cap_units: int | None
    rate_limit_per_second: int | None
    # The plan a crawler without an account pays per crawl (`crawler-price` of a 402 offer);
    # at most one per currency, metered, without an allowance.
    per_crawl: bool = False

    @property
    def has_base_fee(self) -> bool:
        return self.kind in (PlanKind.HYBRID, PlanKind.FIXED)

    @property
    def is_metered(self) -> bool:
        return self.kind in (PlanKind.HYBRID, PlanKind.METERED)

    @property
    def meter_event_name(self) -> str | None:
        return f"licensed_requests.{self.id}" if self.is_metered else None

    @property
    def cheapest_unit_price(self) -> Decimal | None:
        """Lowest non-zero per-request price in minor units (the `crawler-price` offer)."""
        prices = [t.unit_amount_decimal for t in self.tiers if t.unit_amount_decimal > 0]
        return min(prices) if prices else None

    def tiers_as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "up_to": t.up_to,
                "unit_amount_decimal": str(t.unit_amount_decimal),
                "flat_amount": t.flat_amount,
            }
            for t in self.tiers
        ]


@dataclass(frozen=True, slots=True)
class PlanCatalogue:
    plans: dict[str, PlanSpec]
    price_rules: PriceRules = field(default_factory=PriceRules)

    def get(self, plan_id: str) -> PlanSpec | None:
        return self.plans.get(plan_id)

    def per_crawl_plans(self) -> dict[str, PlanSpec]:
        """Currency → the plan marked `per_crawl = true` in it."""
        return {plan.currency: plan for plan in self.plans.values() if plan.per_crawl}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.plans.values())

    def __len__(self) -> int:
        return len(self.plans)


def load_catalogue(path: Path) -> PlanCatalogue:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    plans_raw = raw.get("plans")
    if not isinstance(plans_raw, dict) or not plans_raw:
        raise CatalogueError(f"{path}: define at least one [plans.<id>] table")
    plans = {plan_id: _parse_plan(plan_id, body) for plan_id, body in plans_raw.items()}
    per_crawl_currencies: dict[str, str] = {}
    for plan in plans.values():
        if plan.per_crawl:
            other = per_crawl_currencies.setdefault(plan.currency, plan.id)
            if other != plan.id:
                raise CatalogueError(
                    f"{path}: plan {plan.id!r}: per_crawl: plan {other!r} is already the "
                    f"{plan.currency.upper()} per-crawl plan; mark one plan per currency"
                )
    try:
        price_rules = parse_price_rules(raw.get("price_rules"))
    except PriceRuleError as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    return PlanCatalogue(plans, price_rules)


def _parse_plan(plan_id: str, body: Any) -> PlanSpec:
    def fail(field: str, fix: str) -> CatalogueError:
        return CatalogueError(f"plan {plan_id!r}: {field}: {fix}")

    if not PLAN_ID_PATTERN.match(plan_id):
        raise fail("id", "use lowercase letters, digits and hyphens")
    if not isinstance(body, dict):
        raise fail("table", "must be a TOML table")
    try:
        kind = PlanKind(body.get("kind", ""))
    except ValueError:
        raise fail("kind", "use hybrid, fixed or metered") from None
    currency = str(body.get("currency", "")).lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise fail("currency", "use a three-letter ISO code such as usd")
    interval = body.get("interval", "month")
    if interval not in INTERVALS:
        raise fail("interval", "use month or year")
    base_amount = _non_negative_int(body.get("base_amount", 0), fail, "base_amount")
    included = _non_negative_int(body.get("included_units", 0), fail, "included_units")
    cap = body.get("cap_units")
    cap_units = None if cap is None else _non_negative_int(cap, fail, "cap_units")
    rate = body.get("rate_limit_per_second")
    rate_limit = None if rate is None else _non_negative_int(rate, fail, "rate_limit_per_second")

    if kind is PlanKind.FIXED:
        if base_amount <= 0:
            raise fail("base_amount", "a fixed plan needs a base fee > 0")
        tiers: tuple[Tier, ...] = ()
        included = 0
    else:
        tiers = _tiers(body, included, fail)
        if kind is PlanKind.HYBRID and base_amount <= 0:
            raise fail("base_amount", "a hybrid plan needs a base fee > 0 (or use kind = metered)")
        if kind is PlanKind.METERED:
            base_amount = 0
        if "tiers" in body:
            included = _free_allowance(tiers)
    per_crawl = body.get("per_crawl", False)
    if not isinstance(per_crawl, bool):
        raise fail("per_crawl", "use true or false")
    if per_crawl and (kind is not PlanKind.METERED or included):
        raise fail("per_crawl", "a per-crawl plan is kind = \"metered\" with no included_units")
    plan = PlanSpec(
        id=plan_id,
        name=str(body.get("name", plan_id)),
        kind=kind,
        currency=currency,
        interval=interval,
        base_amount=base_amount,
        included_units=included,
        tiers=tiers,
        cap_units=cap_units,
        rate_limit_per_second=rate_limit,
        per_crawl=per_crawl,
    )
    _check_amounts_stripe_accepts(plan, fail)
    return plan


def _tiers(body: dict[str, Any], included: int, fail: Any) -> tuple[Tier, ...]:
    if "tiers" in body:
        if "included_units" in body:
            # The offer would show one allowance and Stripe bill another.
            raise fail("included_units", "with explicit tiers, make the allowance a first tier "
                       'with unit_amount_decimal = "0" instead')
        raw_tiers = body["tiers"]
        if not isinstance(raw_tiers, list) or not all(isinstance(t, dict) for t in raw_tiers):
            raise fail("tiers", "use a list of tables: [[plans.<id>.tiers]]")
        tiers = []
        previous = 0
        for index, raw in enumerate(raw_tiers):
            up_to = raw.get("up_to")
            last = index == len(raw_tiers) - 1
            if up_to == "inf" and last:
                up_to = None
            elif isinstance(up_to, bool) or not isinstance(up_to, int) or up_to <= previous:
                where = "only the last tier may be" if up_to == "inf" else "use"
                raise fail(f"tiers[{index}].up_to",
                           f"{where} increasing whole numbers, last one \"inf\"")
            tiers.append(
                Tier(
                    up_to=up_to,
                    unit_amount_decimal=_decimal(raw.get("unit_amount_decimal", "0"), fail, f"tiers[{index}].unit_amount_decimal"),
                    flat_amount=_non_negative_int(raw.get("flat_amount", 0), fail, f"tiers[{index}].flat_amount"),
                )
            )
            previous = up_to or previous
        if not tiers or tiers[-1].up_to is not None:
            raise fail("tiers", "the last tier must have up_to = \"inf\"")
        return tuple(tiers)
    unit = _decimal(body.get("unit_amount_decimal"), fail, "unit_amount_decimal")
    if unit <= 0:
        raise fail("unit_amount_decimal", "use a positive price per request in minor units")
    if included > 0:
        return (Tier(up_to=included, unit_amount_decimal=Decimal(0)), Tier(up_to=None, unit_amount_decimal=unit))
    return (Tier(up_to=None, unit_amount_decimal=unit),)


def _free_allowance(tiers: tuple[Tier, ...]) -> int:
    """Units the leading free tiers (no unit price, no flat fee) include."""
    included = 0
    for tier in tiers:
        if tier.up_to is None or tier.unit_amount_decimal or tier.flat_amount:
            break
        included = tier.up_to
    return included


def _check_amounts_stripe_accepts(plan: PlanSpec, fail: Any) -> None:
    """Stripe refuses some amounts outright (https://docs.stripe.com/currencies#special-cases):
    ISK is two-decimal in the API but charged in whole krónur (multiples of 100, prices
    included); the three-decimal currencies take payment amounts ending in 0."""
    whole: list[tuple[str, Decimal]] = [("base_amount", Decimal(plan.base_amount))]
    whole += [(f"tiers[{i}].flat_amount", Decimal(t.flat_amount)) for i, t in enumerate(plan.tiers)]
    if plan.currency == "isk":
        prices = [(f"tiers[{i}].unit_amount_decimal", t.unit_amount_decimal)
                  for i, t in enumerate(plan.tiers)]
        for field, amount in whole + prices:
            if amount % 100:
                raise fail(field, f"{amount} is not whole krónur: Stripe takes ISK amounts in "
                           "multiples of 100 (100 = 1 ISK)")
    elif plan.currency in THREE_DECIMAL_CURRENCIES:
        for field, amount in whole:
            if amount % 10:
                raise fail(field, f"Stripe takes {plan.currency.upper()} payment amounts ending "
                           f"in 0 (round {amount} to a multiple of 10)")


def _non_negative_int(value: Any, fail: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(field, "use a whole number >= 0")
    return value


def _decimal(value: Any, fail: Any, field: str) -> Decimal:
    if not isinstance(value, (str, int)):
        raise fail(field, 'use a decimal string such as "0.1" (minor units)')
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise fail(field, 'use a decimal string such as "0.1" (minor units)') from None
    if not result.is_finite() or result < 0 or result.as_tuple().exponent < -12:  # type: ignore[operator]
        raise fail(field, "use a non-negative decimal with at most 12 decimal places")
    return result
