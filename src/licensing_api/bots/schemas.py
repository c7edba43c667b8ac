"""Bot API bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from licensing_api.bots.service import BotView

BOT_EXAMPLE = {
    "id": "7d1c2b9e-3f4a-4c5d-8e6f-0a1b2c3d4e5f",
    "name": "examplebot",
    "directory_url": "https://bot.example/.well-known/http-message-signatures-directory",
    "keys": [{"keyid": "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U", "kty": "OKP", "source": "directory"}],
    "created_at": "2026-12-01T10:00:00Z",
    "directory_fetched_at": "2026-12-01T10:00:00Z",
    "directory_fresh_until": "2026-12-01T11:00:00Z",
    "directory_error": None,
}


class BotCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="a label, e.g. the crawler's product name")
    directory_url: str | None = Field(
        None, max_length=500,
        description="the bot's key directory (https://…/.well-known/http-message-signatures-directory, "
                    "or its origin); fetched now and refreshed by its caching headers",
    )
    keys: list[dict[str, Any]] | None = Field(
        None, max_length=10, description="or: the bot's public JWKs (Ed25519 or RSA), if it has no directory",
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"name": "examplebot", "directory_url": "https://bot.example"}]},
    }


class BotKeyOut(BaseModel):
    keyid: str = Field(description="the key's JWK thumbprint, the `keyid` its signatures name")
    kty: str
    source: str = Field(description="upload or directory")


class BotOut(BaseModel):
    id: uuid.UUID
    name: str
    directory_url: str | None
    keys: list[BotKeyOut]
    created_at: datetime
    directory_fetched_at: datetime | None
    directory_fresh_until: datetime | None
    directory_error: str | None = Field(description="why the last directory refresh failed, if it did")

    model_config = {"json_schema_extra": {"examples": [BOT_EXAMPLE]}}

    @classmethod
    def of(cls, view: BotView) -> BotOut:
        bot = view.bot
        return cls(
            id=bot.id, name=bot.name, directory_url=bot.directory_url,
            keys=[BotKeyOut(keyid=k.thumbprint, kty=k.jwk["kty"], source=k.source) for k in view.keys],
            created_at=bot.created_at, directory_fetched_at=bot.directory_fetched_at,
            directory_fresh_until=bot.directory_fresh_until, directory_error=bot.directory_error,
        )


class BotList(BaseModel):
    items: list[BotOut]
