"""What the admin API returns. Key secrets never appear: only their display prefix."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from licensing_api.accounts.models import AccountState
from licensing_api.keys.models import KeyStatus
from licensing_api.plain_text import plain_text
from licensing_api.usage.models import ReportState

Item = TypeVar("Item")

# Examples shown in the OpenAPI (`/docs`).
CUSTOMER_EXAMPLE: dict[str, Any] = {
    "id": "5a0e8c1e-4f0e-4a57-9d53-0f3b0c1f5a11", "email": "crawler@example.com",
    "stripe_customer_id": "cus_Q1w2e3r4", "state": "active", "grace_until": None,
    "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z",
}
SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f", "customer_id": "5a0e8c1e-4f0e-4a57-9d53-0f3b0c1f5a11",
    "plan_id": "standard", "stripe_subscription_id": "sub_1Q2w3E4r", "status": "active",
    "current_period_start": "2026-11-01T09:00:00Z", "current_period_end": "2026-12-01T09:00:00Z",
    "created_at": "2026-11-01T09:00:00Z",
}
KEY_EXAMPLE: dict[str, Any] = {
    "id": "0b7f5d0e-8a4e-4a3c-9f7e-2d1c5b6a7e80",
    "customer_id": "5a0e8c1e-4f0e-4a57-9d53-0f3b0c1f5a11", "name": "first key",
    "prefix": "lk_Xk3v9QaZ", "status": "revoked", "created_at": "2026-11-01T09:00:00Z",
    "last_used_at": "2026-11-20T17:42:10Z", "revoked_at": "2026-11-21T08:00:00Z",
}


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    limit: int = Field(description="page size asked for")
    offset: int = Field(description="items skipped")
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CustomerOut(Orm):
    id: uuid.UUID
    email: str
    stripe_customer_id: str | None
    state: AccountState
    grace_until: datetime | None
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [CUSTOMER_EXAMPLE]})


class SubscriptionItemOut(Orm):
    id: uuid.UUID
    kind: str
    stripe_subscription_item_id: str | None
    stripe_price_id: str | None
    meter_event_name: str | None
    current_period_start: datetime
    current_period_end: datetime
    ended_at: datetime | None = Field(None, description="left the subscription (plan change): counts no new units")


class SubscriptionOut(Orm):
    id: uuid.UUID
    customer_id: uuid.UUID
    plan_id: str
    stripe_subscription_id: str | None
    status: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at: datetime | None = Field(None, description="access ends then (cancel at period end)")
    scheduled_plan_id: str | None = Field(None, description="plan waiting for the period end")
    scheduled_change_at: datetime | None = None
    created_at: datetime

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})


class SubscriptionDetail(SubscriptionOut):
    items: list[SubscriptionItemOut]

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        **SUBSCRIPTION_EXAMPLE, "items": [{
            "id": "0b7f5d0e-8a4e-4a3c-9f7e-2d1c5b6a7e80", "kind": "metered",
            "stripe_subscription_item_id": "si_Q1w2e3", "stripe_price_id": "price_Q1w2e3",
            "meter_event_name": "licensed_requests.standard",
            "current_period_start": "2026-11-01T09:00:00Z", "current_period_end": "2026-12-01T09:00:00Z",
        }],
    }]})


class AdminKeyOut(Orm):
    id: uuid.UUID
    customer_id: uuid.UUID
    name: str | None
    prefix: str = Field(description="the key's first characters, enough to recognise it")
    status: KeyStatus
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [KEY_EXAMPLE]})


class AuditEntryOut(Orm):
    from_state: str | None
    to_state: str
    reason: str
    source: str
    created_at: datetime


class CustomerDetail(CustomerOut):
    subscriptions: list[SubscriptionOut]
    keys: list[AdminKeyOut]
    audit_log: list[AuditEntryOut] = Field(description="every state change, oldest first")

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        **CUSTOMER_EXAMPLE, "subscriptions": [SUBSCRIPTION_EXAMPLE], "keys": [KEY_EXAMPLE],
        "audit_log": [{"from_state": "active", "to_state": "past_due", "reason": "payment_failed",
                       "source": "stripe:evt_1Q2w3E", "created_at": "2026-11-15T10:00:00Z"}],
    }]})


class StateChange(BaseModel):
    state: AccountState = Field(description="the state to move the account to")
    reason: plain_text(500, min_length=1) = Field(description="why; kept in the audit log")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"state": "suspended", "reason": "chargeback under review"},
    ]})


class ReinstateRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why; kept in the audit log")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "refund was a billing error; customer keeps the license"}]})


class ReinstateOut(BaseModel):
    customer: CustomerOut
    subscription: SubscriptionOut
    new_subscription: bool = Field(description="the old subscription had ended: a new one was created")


class PlanOut(BaseModel):
    id: str
    name: str
    kind: str
    currency: str
    interval: str
    base_amount: int = Field(description="minor units")
    included_units: int
    tiers: list[dict[str, Any]]
    cap_units: int | None
    rate_limit_per_second: int | None
    stripe_product_id: str | None = Field(description="null until `licensing-api plans sync`")
    stripe_meter_id: str | None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "standard", "name": "Standard", "kind": "hybrid", "currency": "usd", "interval": "month",
        "base_amount": 4900, "included_units": 100000,
        "tiers": [{"up_to": 100000, "unit_amount_decimal": "0", "flat_amount": 0},
                  {"up_to": None, "unit_amount_decimal": "0.05", "flat_amount": 0}],
        "cap_units": None, "rate_limit_per_second": 50,
        "stripe_product_id": "prod_Q1w2e3", "stripe_meter_id": "mtr_Q1w2e3",
    }]})


class UsageReportOut(Orm):
    id: str
    subscription_item_id: uuid.UUID
    units: int
    period_start: datetime
    period_end: datetime
    usage_at: datetime
    state: ReportState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "ur_5a0e8c1e_1730451600_000042", "subscription_item_id": "0b7f5d0e-8a4e-4a3c-9f7e-2d1c5b6a7e80",
        "units": 1250, "period_start": "2026-11-01T09:00:00Z", "period_end": "2026-12-01T09:00:00Z",
        "usage_at": "2026-11-20T17:42:00Z", "state": "failed", "attempts": 6, "next_attempt_at": None,
        "last_error": "resource_missing: No such customer: 'cus_Q1w2e3'", "created_at": "2026-11-20T17:42:00Z",
        "sent_at": None,
    }]})


class RetryResult(BaseModel):
    retried: int = Field(description="failed reports set back to pending, to be sent next flush")

    model_config = ConfigDict(json_schema_extra={"examples": [{"retried": 3}]})
