"""API keys: generation, digests, creation and revocation. Secrets are never stored."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.db import utcnow
from licensing_api.errors import Conflict, NotFound
from licensing_api.keys.models import ApiKey, KeyKind, KeyStatus
from licensing_api.plain_text import require_plain_text

SECRET_PREFIX = "lk_"
MAX_ACTIVE_KEYS = 25  # per customer: self-service cannot mint keys without bound
DISPLAY_PREFIX_LENGTH = 11  # "lk_" + 8 characters: enough to recognise, useless to guess
KEY_PATTERN = re.compile(r"^lk_[A-Za-z0-9_-]{32,128}$")


class KeyNotFound(NotFound):
    slug, title = "key-not-found", "API key not found"


class TooManyKeys(Conflict):
    slug, title = "too-many-keys", "Too many active keys"


class KeyAlreadyRevoked(Conflict):
    slug, title = "key-revoked", "API key already revoked"


class AmbiguousKeyPrefix(Conflict):
    slug, title = "ambiguous-key-prefix", "More than one key has this prefix"


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
    if name is not None:
        name = require_plain_text(name, "key name")
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


async def create_customer_key(
    session: AsyncSession, customer_id: uuid.UUID, name: str | None = None
) -> NewKey:
    """Self-service key creation (`POST /v1/keys`, dashboard): at most `MAX_ACTIVE_KEYS` active."""
    active = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.customer_id == customer_id, ApiKey.status == KeyStatus.ACTIVE,
               ApiKey.kind == KeyKind.SECRET)
    )
    if (active or 0) >= MAX_ACTIVE_KEYS:
        raise TooManyKeys(f"at most {MAX_ACTIVE_KEYS} active keys; revoke one first")
    return await create_key(session, customer_id, name=name)


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, customer_id: uuid.UUID | None = None
) -> ApiKey:
    """Revoke a key (idempotent). With `customer_id`, only that customer's key is found."""
    query = select(ApiKey).where(ApiKey.id == key_id)
    if customer_id is not None:  # self-service: a bot's credential is revoked with its bot
        query = query.where(ApiKey.customer_id == customer_id, ApiKey.kind == KeyKind.SECRET)
    key = await session.scalar(query)
    if key is None:
        raise KeyNotFound(f"no API key {key_id}")
    if key.status != KeyStatus.REVOKED:
        key.status = KeyStatus.REVOKED
        key.revoked_at = utcnow()
        await session.flush()
    return key


async def revoke_key_everywhere(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    key_id: uuid.UUID,
    customer_id: uuid.UUID | None = None,
) -> ApiKey:
    """Revoke a key and, once the transaction commits, make every worker drop it from its cache.

    The one revocation path for callers that serve requests (dashboard, `/v1/keys`, CLI):
    `revoke_key` alone changes the row but leaves cached copies valid until their TTL.
    """
    key = await revoke_key(session, key_id, customer_id)
    invalidate_after_commit(session, redis, redis_key_prefix, key_digest=key.digest)
    return key


async def rotate_key(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    key_id: uuid.UUID,
    customer_id: uuid.UUID,
) -> NewKey:
    """Replace an active key: a new key with the same name, the old one revoked everywhere."""
    old = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.customer_id == customer_id)
    )
    if old is None:
        raise KeyNotFound(f"no API key {key_id}")
    if old.status == KeyStatus.REVOKED:
        raise KeyAlreadyRevoked(f"API key {old.prefix}… is revoked; create a new key instead")
    replacement = await create_key(session, customer_id, name=old.name)
    await revoke_key_everywhere(session, redis, redis_key_prefix, key_id, customer_id)
    return replacement


async def list_keys(session: AsyncSession, customer_id: uuid.UUID) -> list[ApiKey]:
    result = await session.scalars(
        select(ApiKey)
        .where(ApiKey.customer_id == customer_id, ApiKey.kind == KeyKind.SECRET)
        .order_by(ApiKey.created_at)
    )
    return list(result)


async def find_key(session: AsyncSession, reference: str) -> ApiKey:
    """The key named by its id, its display prefix (or the start of it) or its whole secret."""
    reference = reference.strip()
    try:
        key_id = uuid.UUID(reference)
    except ValueError:
        key_id = None
    if key_id is not None:
        key = await session.get(ApiKey, key_id)
    elif is_well_formed(reference):
        key = await session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(reference)))
    elif reference.startswith(SECRET_PREFIX) and len(reference) <= DISPLAY_PREFIX_LENGTH:
        matches = list(await session.scalars(
            select(ApiKey).where(ApiKey.prefix.startswith(reference, autoescape=True)).limit(6)
        ))
        if len(matches) > 1:
            shown = ", ".join(f"{k.prefix}… ({k.id})" for k in matches[:5])
            raise AmbiguousKeyPrefix(
                f"{len(matches) if len(matches) < 6 else 'more than 5'} keys start with "
                f"{reference}: {shown}; give more of the prefix or the key id"
            )
        key = matches[0] if matches else None
    else:
        raise KeyNotFound(
            f"{reference!r} is neither a key id nor a key prefix (lk_ and up to 8 more characters)"
        )
    if key is None:
        raise KeyNotFound(f"no API key {reference}")
    return key
