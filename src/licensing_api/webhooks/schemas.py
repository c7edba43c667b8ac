"""The webhook's wire shapes: the Stripe event envelope we accept and the answer we give."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from licensing_api.accounts.stripe_sync import from_timestamp


class EventOutcome(enum.StrEnum):
    APPLIED = "applied"  # the event changed (or confirmed) local state
    STALE = "stale"  # older than what is stored: nothing changed
    IGNORED = "ignored"  # handled type, but nothing of ours (unknown customer, partial refund)
    UNHANDLED = "unhandled"  # a type we do not act on: recorded and acknowledged
    DUPLICATE = "duplicate"  # already recorded: nothing changed


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None


class StripeEvent(BaseModel):
    """A snapshot event as Stripe posts it (only the fields we rely on are checked)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=4, max_length=255, pattern=r"^evt_")
    type: str = Field(min_length=1, max_length=100)
    created: int = Field(ge=0)
    data: EventData

    @property
    def created_at(self) -> datetime:
        return from_timestamp(self.created)

    @property
    def object(self) -> dict[str, Any]:
        return self.data.object

    @property
    def source(self) -> str:
        """How the audit log names this event."""
        return f"stripe:{self.id}"


class WebhookAck(BaseModel):
    """What `POST /webhooks/stripe` answers once the event is durably recorded."""

    received: bool = Field(True, description="always true on 2xx")
    event_id: str = Field(description="the Stripe event id", examples=["evt_1Pgc76B7WZ01zgkWwyRHS12y"])
    type: str = Field(description="the Stripe event type", examples=["invoice.paid"])
    outcome: EventOutcome = Field(
        description="applied | stale (older than stored state) | ignored | unhandled | duplicate"
    )
