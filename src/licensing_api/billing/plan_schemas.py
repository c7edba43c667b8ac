"""Bodies of the plan change API (`POST /v1/subscription/plan`, `POST /admin/customers/{id}/plan`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from licensing_api.billing.plan_change import ChangeWhen, PlanChangeResult


class PlanChangeRequest(BaseModel):
    plan: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$",
                      description="the catalogue's plan id")
    when: ChangeWhen = Field(ChangeWhen.PERIOD_END, description=(
        "period_end (default): from the next billing period; now: at once, the base fees "
        "prorated by the second and invoiced now"))

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"plan": "premium", "when": "now"}]}}


class ProrationLineOut(BaseModel):
    description: str
    amount: int = Field(description="minor units; negative for a credit")


class InvoiceNowOut(BaseModel):
    """What Stripe invoices at once for a `now` change (its prorations, to the cent)."""

    currency: str
    proration_date: datetime
    lines: list[ProrationLineOut]
    total: int = Field(description="minor units; a negative total is credit for the next invoice")


class PlanChangeOut(BaseModel):
    customer_id: uuid.UUID
    from_plan: str
    plan: str = Field(description="the plan the subscription moves to")
    when: ChangeWhen
    effective_at: datetime = Field(description="when the new plan starts counting")
    scheduled: bool = Field(description="true: the change waits for `effective_at`")
    canceled_scheduled_change: bool = Field(False, description="asking for the current plan "
                                            "canceled a waiting change")
    invoice_now: InvoiceNowOut | None = Field(description="`now` with billing on: invoiced at once")

    @classmethod
    def of(cls, result: PlanChangeResult) -> PlanChangeOut:
        invoice = result.invoice_now
        return cls(
            customer_id=result.customer_id, from_plan=result.from_plan, plan=result.to_plan,
            when=result.when, effective_at=result.effective_at,
            scheduled=result.when is ChangeWhen.PERIOD_END and not result.canceled_scheduled_change,
            canceled_scheduled_change=result.canceled_scheduled_change,
            invoice_now=None if invoice is None else InvoiceNowOut(
                currency=invoice.currency, proration_date=invoice.proration_date,
                lines=[ProrationLineOut(description=line.description, amount=line.amount)
                       for line in invoice.lines],
                total=invoice.total),
        )
