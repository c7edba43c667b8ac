"""A registered bot and the public keys its signatures are verified with."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, new_id, utcnow


class BotStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class KeySource(enum.StrEnum):
    UPLOAD = "upload"  # JWKs the customer gave
    DIRECTORY = "directory"  # fetched from the bot's key directory


class Bot(Base):
    """A customer's crawler, known by its Web Bot Auth keys.

    `api_key_id` is the bot's credential row in `api_keys` (kind `bot`, no usable secret): the
    request path meters, rate-limits, revokes and reports a bot's requests exactly as a key's.
    """

    __tablename__ = "bots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # https://…/.well-known/http-message-signatures-directory, or None for uploaded keys.
    directory_url: Mapped[str | None] = mapped_column(String(500), index=True)
    status: Mapped[str] = mapped_column(String(16), default=BotStatus.ACTIVE)
    directory_fetched_at: Mapped[datetime | None]
    directory_fresh_until: Mapped[datetime | None]  # from the directory's caching headers
    directory_etag: Mapped[str | None] = mapped_column(String(200))
    directory_error: Mapped[str | None] = mapped_column(Text)  # the last failed refresh, for people
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class BotKey(Base):
    """One public key of a bot; `thumbprint` (RFC 7638) is the `keyid` its signatures name.
    A key belongs to one active bot at most: the unique thumbprint decides who pays."""

    __tablename__ = "bot_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    bot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True)
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)
    jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
