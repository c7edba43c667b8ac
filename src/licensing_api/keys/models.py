from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, new_id, utcnow


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class KeyKind(enum.StrEnum):
    SECRET = "secret"  # a crawler's API key (its secret was shown once)
    BOT = "bot"  # a verified bot's credential row (bots/): identified by signature, no secret


class ApiKey(Base):
    """A crawler credential. Only the prefix and the SHA-256 digest of the secret are kept."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the secret
    status: Mapped[str] = mapped_column(String(16), default=KeyStatus.ACTIVE)
    kind: Mapped[str] = mapped_column(String(16), default=KeyKind.SECRET, server_default=KeyKind.SECRET)
    # Web Bot Auth (RFC 9421): the public key (JWK) a signed request must verify against.
    bot_public_key: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
