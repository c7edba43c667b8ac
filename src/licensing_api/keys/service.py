"""API keys: generation, digests, creation and revocation. Secrets are never stored."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.db import utcnow
from licensing_api.errors import NotFound
from licensing_api.keys.models import ApiKey, KeyStatus

SECRET_PREFIX = "lk_"
DISPLAY_PREFIX_LENGTH = 11  # "lk_" + 8 characters: enough to recognise, useless to guess
KEY_PATTERN = re.compile(r"^lk_[A-Za-z0-9_-]{32,128}$")


class KeyNotFound(NotFound):
    slug, title = "key-not-found", "API key not found"


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once, never stored


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def is_well_formed(secret: str) -> bool:
    return KEY_PATTERN.fullmatch(secret) is not None


async def create_key(
    session: AsyncSession, customer_id: uuid.UUID, name: str | None = None
) -> NewKey:
    secret = generate_secret()
    key = ApiKey(
        customer_id=customer_id,
        name=name,
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        digest=digest_of(secret),
        status=KeyStatus.ACTIVE,
    )
    session.add(key)
    await session.flush()
    return NewKey(key=key, secret=secret)


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, customer_id: uuid.UUID | None = None
) -> ApiKey:
    """Revoke a key (idempotent). With `customer_id`, only that customer's key is found."""
    query = select(ApiKey).where(ApiKey.id == key_id)
    if customer_id is not None:
        query = query.where(ApiKey.customer_id == customer_id)
    key = await session.scalar(query)
    if key is None:
        raise KeyNotFound(f"no API key {key_id}")
    if key.status != KeyStatus.REVOKED:
        key.status = KeyStatus.REVOKED
        key.revoked_at = utcnow()
        await session.flush()
    return key


async def list_keys(session: AsyncSession, customer_id: uuid.UUID) -> list[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.customer_id == customer_id).order_by(ApiKey.created_at)
    )
    return list(result)
