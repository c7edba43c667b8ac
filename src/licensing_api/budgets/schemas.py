"""Bodies of `GET/PUT /v1/budget`, its admin twin, and the budget part of `GET /v1/usage`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, Field, StrictBool, Strict, field_validator

from licensing_api.billing.plans import PlanSpec
from licensing_api.budgets.models import DEFAULT_THRESHOLDS, Budget
from licensing_api.budgets.spend import last_unit_within, thresholds_reached

MAX_BUDGET_AMOUNT = 10**12  # minor units: ten billion dollars, far above any real budget
MAX_THRESHOLD_PERCENT = 1000  # a threshold may sit above the budget (no hard stop: overspend alerts)
MAX_THRESHOLDS = 10



def _json_integer(value: object) -> object:
    """JSON Schema's integer: `12` or `12.0`, never `"12"` or `true` (StrictInt refuses those)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, Strict(), BeforeValidator(_json_integer)]
ThresholdPercent = Annotated[int, Strict(), Ge(1), Le(MAX_THRESHOLD_PERCENT), BeforeValidator(_json_integer)]


class BudgetChange(BaseModel):
    """A budget for every billing period, replacing the one set before (if any)."""

    amount: WholeNumber = Field(ge=1, le=MAX_BUDGET_AMOUNT, description=(
        "the most the period's estimated bill (base fee included) should reach, in minor units "
        "of the plan's currency (cents for USD)"))
    thresholds: list[ThresholdPercent] = Field(
        list(DEFAULT_THRESHOLDS), max_length=MAX_THRESHOLDS, json_schema_extra={"uniqueItems": True},
        description="percentages of `amount`; each one reached sends one `budget_threshold` notice per period")
    hard_stop: StrictBool = Field(False, description=(
        "refuse (429 spend-cap-reached) a request whose price would take the estimated bill past "
        "`amount`, until the period ends"))

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"amount": 15000, "thresholds": [50, 80, 100], "hard_stop": True}]},
    }

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("list each threshold once")
        return sorted(value)


class BudgetStatus(BaseModel):
    """A budget against the current period's estimated bill."""

    amount: int = Field(description="the budget per period, in minor units")
    currency: str | None = Field(description="the plan's currency (ISO 4217, lowercase); null without a plan")
    thresholds: list[int] = Field(description="percentages of the budget that send a notice")
    hard_stop: bool
    estimated_amount: int | None = Field(description="the period's estimated bill so far, in minor units")
    remaining_amount: int | None = Field(description="budget minus the estimated bill (negative: over)")
    thresholds_reached: list[int] = Field(description="thresholds the estimated bill has reached this period")
    stops_at_units: int | None = Field(description=(
        "hard stop: the period's units at which the budget is reached (a request taking the "
        "period past them is refused); null without a hard stop or when the bill cannot reach it"))

    @classmethod
    def of(cls, budget: Budget, plan: PlanSpec | None, estimated_amount: int | None) -> BudgetStatus:
        thresholds = [int(t) for t in budget.thresholds]
        stops_at = last_unit_within(plan, budget.amount) if plan is not None and budget.hard_stop else None
        return cls(
            amount=budget.amount,
            currency=plan.currency if plan is not None else None,
            thresholds=thresholds,
            hard_stop=budget.hard_stop,
            estimated_amount=estimated_amount,
            remaining_amount=None if estimated_amount is None else budget.amount - estimated_amount,
            thresholds_reached=[] if estimated_amount is None
            else thresholds_reached(estimated_amount, budget.amount, thresholds),
            stops_at_units=None if stops_at is None else max(stops_at, 0),
        )


class BudgetOut(BudgetStatus):
    """A customer's budget and where the current period stands."""

    customer_id: uuid.UUID
    period_start: datetime | None = Field(description="the current billing period; null without a subscription")
    period_end: datetime | None
    thresholds_notified: list[int] = Field(description="thresholds whose notice this period was claimed")
    updated_at: datetime

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "customer_id": "6f1c2a4e-1d7b-4f5e-9a0c-2b8d3e4f5a6b",
                    "amount": 15000,
                    "currency": "usd",
                    "thresholds": [50, 80, 100],
                    "hard_stop": True,
                    "estimated_amount": 12420,
                    "remaining_amount": 2580,
                    "thresholds_reached": [50, 80],
                    "stops_at_units": 51004,
                    "period_start": "2026-11-26T00:43:12Z",
                    "period_end": "2026-12-26T00:43:12Z",
                    "thresholds_notified": [50, 80],
                    "updated_at": "2026-11-27T09:12:00Z",
                }
            ]
        }
    }


class BudgetRemoved(BaseModel):
    customer_id: uuid.UUID
    removed: bool = True

    model_config = {"json_schema_extra": {"examples": [
        {"customer_id": "6f1c2a4e-1d7b-4f5e-9a0c-2b8d3e4f5a6b", "removed": True}]}}
