"""Usage API bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from licensing_api.budgets.schemas import BudgetStatus


class ScheduledChange(BaseModel):
    """A plan change waiting for the period end (`POST /v1/subscription/plan`)."""

    plan_id: str
    plan_name: str
    effective_at: datetime


class UsageSummary(BaseModel):
    """The current billing period of a customer's subscription, as Stripe will invoice it."""

    customer_id: uuid.UUID
    plan_id: str
    plan_name: str
    currency: str = Field(description="ISO 4217, lowercase")
    period_start: datetime
    period_end: datetime
    units: int = Field(description="units served this period (all keys, all workers)")
    included_units: int = Field(description="units the plan includes at no extra charge")
    overage_units: int = Field(description="units billed above the included ones")
    cap_units: int | None = Field(description="hard cap per period (fixed plans), else null")
    base_amount: int = Field(description="the plan's base fee, in minor units")
    usage_amount: int = Field(description="the metered line so far, in minor units")
    estimated_amount: int = Field(description="base fee + metered line, in minor units")
    estimated_amount_display: str = Field(description="the estimate for people, e.g. '100.42 USD'")
    earlier_usage_amount: int = Field(0, description=(
        "usage this period under the plan before a `now` change, billed at the period end"))
    next_invoice_amount: int = Field(0, description=(
        "the period-end invoice as estimated now: this period's usage (both plans after a "
        "`now` change) plus the next period's base fee (the scheduled plan's, if any)"))
    scheduled_change: ScheduledChange | None = Field(None, description="a plan change waiting for the period end")
    ends_at: datetime | None = Field(None, description="the subscription ends then (canceled at period end)")
    budget: BudgetStatus | None = Field(None, description="the spend budget against this period's estimate (`/v1/budget`)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "customer_id": "6f1c2a4e-1d7b-4f5e-9a0c-2b8d3e4f5a6b",
                    "plan_id": "standard",
                    "plan_name": "Standard",
                    "currency": "usd",
                    "period_start": "2026-11-26T00:43:12Z",
                    "period_end": "2026-12-26T00:43:12Z",
                    "units": 5200,
                    "included_units": 1000,
                    "overage_units": 4200,
                    "cap_units": None,
                    "base_amount": 10000,
                    "usage_amount": 420,
                    "estimated_amount": 10420,
                    "estimated_amount_display": "104.20 USD",
                    "earlier_usage_amount": 0,
                    "next_invoice_amount": 10420,
                    "scheduled_change": {"plan_id": "premium", "plan_name": "Premium",
                                         "effective_at": "2026-12-26T00:43:12Z"},
                    "ends_at": None,
                    "budget": {"amount": 15000, "currency": "usd", "thresholds": [50, 80, 100],
                               "hard_stop": True, "estimated_amount": 10420, "remaining_amount": 4580,
                               "thresholds_reached": [50], "stops_at_units": 51004},
                }
            ]
        }
    }
