from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field

from licensing_api.billing.plans import PLAN_ID_PATTERN


class SignupRequest(BaseModel):
    email: EmailStr = Field(description="billing email of the new customer")
    plan: str = Field(
        max_length=63, pattern=PLAN_ID_PATTERN.pattern, description="plan id, e.g. standard"
    )

    model_config = {"json_schema_extra": {"examples": [{"email": "crawler@example.com", "plan": "standard"}]}}


class CheckoutLink(BaseModel):
    url: str = Field(description="Stripe Checkout page; send the buyer there")
    checkout_session_id: str = Field(description="the Checkout Session's id (cs_…)")
