"""Key API bodies. A secret appears in exactly one body: the answer to its creation."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from licensing_api.plain_text import plain_text


class KeyCreate(BaseModel):
    name: plain_text(100) | None = Field(None, description="a label, e.g. the crawler's name")

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"name": "crawler-eu-1"}]}}


KEY_EXAMPLE = {
    "id": "0b6f3c1e-8e9a-4a51-9a77-5d0e2c4b1f3a",
    "name": "crawler-eu-1",
    "prefix": "lk_Xb3kP9aQ",
    "status": "active",
    "created_at": "2026-11-26T00:43:12Z",
    "last_used_at": None,
    "revoked_at": None,
}


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str | None
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    status: str = Field(description="active or revoked")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    model_config = {"from_attributes": True, "json_schema_extra": {"examples": [KEY_EXAMPLE]}}


class KeyList(BaseModel):
    items: list[KeyOut]


class NewKeyOut(KeyOut):
    secret: str = Field(description="the whole key; shown this once, never again")

    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [{**KEY_EXAMPLE, "secret": "lk_Xb3kP9aQ2mV7tR1yW8eN4cF6hJ0sL5dG3uZ9oI2pK"}]
        },
    }
