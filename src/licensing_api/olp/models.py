"""License tokens issued by `POST /olp/token`. Only the SHA-256 digest of a token is kept."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, new_id, utcnow


class LicenseToken(Base):
    """A license granted to the holder of an API key, for one plan's license, until it expires.
    It dies with its key (revoked key: refused) and its account (the account's state applies)."""

    __tablename__ = "license_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the token
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    plan_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(2000))
    client_id: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
