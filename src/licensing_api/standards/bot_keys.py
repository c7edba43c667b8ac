"""Bind an API key to a bot's public key (Web Bot Auth), or unbind it."""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.keys.models import ApiKey
from licensing_api.keys.service import KeyNotFound
from licensing_api.standards.webbotauth import jwk_thumbprint, public_jwk


async def set_bot_key(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    key_id: uuid.UUID,
    jwk: dict[str, Any] | None,
) -> ApiKey:
    """Bind `jwk` (an Ed25519 public JWK) to the key, or unbind with None; every worker's
    cached access record is dropped once the change commits."""
    clean = public_jwk(jwk) if jwk is not None else None
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise KeyNotFound(f"no API key {key_id}")
    key.bot_public_key = clean
    await session.flush()
    invalidate_after_commit(session, redis, redis_key_prefix, key_digest=key.digest)
    return key


def bound_thumbprint(key: ApiKey) -> str | None:
    return jwk_thumbprint(key.bot_public_key) if key.bot_public_key else None
