from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, utcnow


class WebhookEvent(Base):
    """A Stripe event, recorded once (primary key = event id) with the outcome of its effect."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    stripe_created_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(32))  # applied | stale | ignored | unhandled
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
