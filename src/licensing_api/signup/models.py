from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, utcnow


class SignupSecret(Base):
    """A signup's first key secret, kept for the success page in the provisioning transaction.

    `sealed_secret` is encrypted (signup/sealing.py) and set to NULL once shown or expired;
    the row itself stays as the "provisioned" marker of the checkout session.
    """

    __tablename__ = "signup_secrets"

    checkout_session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    sealed_secret: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    shown_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
