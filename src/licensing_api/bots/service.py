"""Registering, listing, refreshing and deleting a customer's verified bots.

A bot is identified by its public keys: uploaded JWKs, or those of its key directory (kept
in `bot_keys` and refreshed, see `directory.py`). Each bot owns a credential row in
`api_keys` (kind `bot`) through which its requests are metered like a key's. Every change to
a bot's keys drops the matching access-cache entries in every worker once it commits.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.bots.directory import (
    MIN_FRESH_SECONDS,
    DirectoryError,
    KeyDirectoryFetcher,
    directory_url_of,
)
from licensing_api.bots.models import Bot, BotKey, BotStatus, KeySource
from licensing_api.bots.records import bot_cache_key
from licensing_api.db import utcnow
from licensing_api.errors import BadRequest, Conflict, NotFound
from licensing_api.keys.models import ApiKey, KeyKind, KeyStatus
from licensing_api.keys.service import digest_of, revoke_key
from licensing_api.standards.httpsig import InvalidBotKey, VerifyingKey

logger = logging.getLogger(__name__)

MAX_ACTIVE_BOTS = 10  # per customer
MAX_UPLOADED_KEYS = 10
BOT_KEY_PREFIX = "bot"


class BotNotFound(NotFound):
    slug, title = "bot-not-found", "Bot not found"


class InvalidBotRegistration(BadRequest):
    slug, title = "invalid-bot", "Invalid bot registration"


class BotKeyTaken(Conflict):
    slug, title = "bot-key-taken", "Bot key already registered"


class TooManyBots(Conflict):
    slug, title = "too-many-bots", "Too many bots"


@dataclass(frozen=True, slots=True)
class BotView:
    bot: Bot
    keys: list[BotKey]


async def register_bot(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    fetcher: KeyDirectoryFetcher,
    customer_id: uuid.UUID,
    *,
    name: str,
    directory_url: str | None = None,
    jwks: list[dict[str, Any]] | None = None,
) -> BotView:
    """A new bot for the customer, by key directory (fetched now) or uploaded public JWKs."""
    if (directory_url is None) == (jwks is None):
        raise InvalidBotRegistration("give either a key directory URL or the bot's public JWKs")
    active = await session.scalar(
        select(func.count()).select_from(Bot)
        .where(Bot.customer_id == customer_id, Bot.status == BotStatus.ACTIVE)
    )
    if (active or 0) >= MAX_ACTIVE_BOTS:
        raise TooManyBots(f"at most {MAX_ACTIVE_BOTS} active bots; delete one first")
    now = utcnow()
    if directory_url is not None:
        try:
            directory_url = directory_url_of(directory_url)
            document = await fetcher.fetch(directory_url, now=now)
        except DirectoryError as exc:
            raise InvalidBotRegistration(f"key directory {directory_url}: {exc}") from None
        keys, source = list(document.keys), KeySource.DIRECTORY
        await _refuse_taken_directory(session, directory_url)
    else:
        keys, source = _uploaded_keys(jwks or []), KeySource.UPLOAD
    await _refuse_taken_keys(session, [key.thumbprint for key in keys])

    credential = ApiKey(
        customer_id=customer_id, name=f"bot: {name}"[:100], prefix=BOT_KEY_PREFIX,
        digest=digest_of(secrets.token_urlsafe(32)),  # no one holds it: bots sign instead
        status=KeyStatus.ACTIVE, kind=KeyKind.BOT,
    )
    session.add(credential)
    await session.flush()
    bot = Bot(customer_id=customer_id, api_key_id=credential.id, name=name, directory_url=directory_url)
    if source is KeySource.DIRECTORY:
        bot.directory_fetched_at, bot.directory_fresh_until = now, document.fresh_until
        bot.directory_etag = document.etag
    session.add(bot)
    await session.flush()
    rows = [BotKey(bot_id=bot.id, thumbprint=k.thumbprint, jwk=k.jwk, source=source) for k in keys]
    session.add_all(rows)
    await session.flush()
    for key in keys:  # a worker may remember the keyid as unknown
        invalidate_after_commit(session, redis, redis_key_prefix, key_digest=bot_cache_key(key.thumbprint))
    logger.info("bot_registered", extra={"bot_id": str(bot.id), "customer_id": str(customer_id),
                                         "keys": len(keys), "source": str(source)})
    return BotView(bot, rows)


async def list_bots(session: AsyncSession, customer_id: uuid.UUID) -> list[BotView]:
    bots = list(await session.scalars(
        select(Bot).where(Bot.customer_id == customer_id, Bot.status == BotStatus.ACTIVE)
        .order_by(Bot.created_at)
    ))
    keys = await _keys_by_bot(session, [bot.id for bot in bots])
    return [BotView(bot, keys.get(bot.id, [])) for bot in bots]


async def delete_bot(
    session: AsyncSession, redis: Redis, redis_key_prefix: str, bot_id: uuid.UUID,
    customer_id: uuid.UUID | None = None,
) -> Bot:
    """Revoke a bot: its keys are freed and every worker refuses its signatures at once."""
    query = select(Bot).where(Bot.id == bot_id, Bot.status == BotStatus.ACTIVE)
    if customer_id is not None:
        query = query.where(Bot.customer_id == customer_id)
    bot = await session.scalar(query)
    if bot is None:
        raise BotNotFound(f"no bot {bot_id}")
    thumbprints = list(await session.scalars(select(BotKey.thumbprint).where(BotKey.bot_id == bot.id)))
    await session.execute(delete(BotKey).where(BotKey.bot_id == bot.id))
    bot.status, bot.revoked_at = BotStatus.REVOKED, utcnow()
    credential = await revoke_key(session, bot.api_key_id)
    await session.flush()
    invalidate_after_commit(session, redis, redis_key_prefix, key_digest=credential.digest)
    for thumbprint in thumbprints:
        invalidate_after_commit(session, redis, redis_key_prefix, key_digest=bot_cache_key(thumbprint))
    logger.info("bot_deleted", extra={"bot_id": str(bot.id)})
    return bot


async def refresh_directory(
    session: AsyncSession, redis: Redis, redis_key_prefix: str, fetcher: KeyDirectoryFetcher,
    bot: Bot, now: datetime | None = None,
) -> bool:
    """Fetch the bot's directory again (conditionally) and replace its keys; True if they
    changed. A failed fetch keeps the known keys and is retried `MIN_FRESH_SECONDS` later."""
    assert bot.directory_url is not None
    now = now or utcnow()
    try:
        document = await fetcher.fetch(bot.directory_url, bot.directory_etag, now=now)
    except DirectoryError as exc:
        bot.directory_error = str(exc)
        bot.directory_fresh_until = now + timedelta(seconds=MIN_FRESH_SECONDS)
        await session.flush()
        return False
    bot.directory_fetched_at, bot.directory_fresh_until = now, document.fresh_until
    bot.directory_etag, bot.directory_error = document.etag, None
    if document.not_modified:
        await session.flush()
        return False
    current = {row.thumbprint: row for row in await session.scalars(select(BotKey).where(BotKey.bot_id == bot.id))}
    published = {key.thumbprint: key for key in document.keys}
    removed = [row for thumbprint, row in current.items() if thumbprint not in published]
    added = [key for thumbprint, key in published.items() if thumbprint not in current]
    taken = set(await session.scalars(
        select(BotKey.thumbprint).where(BotKey.thumbprint.in_([k.thumbprint for k in added]))
    )) if added else set()
    for row in removed:
        await session.delete(row)
    for key in added:
        if key.thumbprint in taken:
            bot.directory_error = f"key {key.thumbprint} belongs to another bot; not added"
            continue
        session.add(BotKey(bot_id=bot.id, thumbprint=key.thumbprint, jwk=key.jwk, source=KeySource.DIRECTORY))
    await session.flush()
    for thumbprint in [row.thumbprint for row in removed] + [key.thumbprint for key in added]:
        invalidate_after_commit(session, redis, redis_key_prefix, key_digest=bot_cache_key(thumbprint))
    if removed or added:
        logger.info("bot_directory_keys_changed", extra={
            "bot_id": str(bot.id), "added": len(added), "removed": len(removed)})
    return bool(removed or added)


async def stale_directory_bots(session: AsyncSession, now: datetime, limit: int = 100) -> list[Bot]:
    return list(await session.scalars(
        select(Bot)
        .where(Bot.status == BotStatus.ACTIVE, Bot.directory_url.is_not(None),
               Bot.directory_fresh_until <= now)
        .order_by(Bot.directory_fresh_until).limit(limit)
    ))


async def bot_of_directory(session: AsyncSession, directory_url: str) -> Bot | None:
    return await session.scalar(
        select(Bot).where(Bot.directory_url == directory_url, Bot.status == BotStatus.ACTIVE)
    )


def jwks_from_json(text: str) -> list[dict[str, Any]]:
    """A JWK or a JWKS (`{"keys": [...]}`) as JSON text → the list of JWKs."""
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidBotRegistration("the bot's public key must be JSON: a JWK or a JWKS") from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        return list(document["keys"])
    if isinstance(document, dict):
        return [document]
    raise InvalidBotRegistration("a JWK or a JWKS is a JSON object")


def _uploaded_keys(jwks: list[dict[str, Any]]) -> list[VerifyingKey]:
    if not jwks or len(jwks) > MAX_UPLOADED_KEYS:
        raise InvalidBotRegistration(f"give 1 to {MAX_UPLOADED_KEYS} public JWKs")
    keys: dict[str, VerifyingKey] = {}
    for index, jwk in enumerate(jwks):
        try:
            key = VerifyingKey.from_jwk(jwk)
        except InvalidBotKey as exc:
            raise InvalidBotRegistration(f"keys[{index}]: {exc.detail}") from None
        keys[key.thumbprint] = key
    return list(keys.values())


async def _refuse_taken_keys(session: AsyncSession, thumbprints: list[str]) -> None:
    taken = await session.scalar(select(BotKey.thumbprint).where(BotKey.thumbprint.in_(thumbprints)).limit(1))
    if taken is not None:
        raise BotKeyTaken(f"key {taken} is already registered to a bot; each key identifies one bot")


async def _refuse_taken_directory(session: AsyncSession, directory_url: str) -> None:
    if await bot_of_directory(session, directory_url) is not None:
        raise BotKeyTaken(f"the key directory {directory_url} is already registered to a bot")


async def _keys_by_bot(session: AsyncSession, bot_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[BotKey]]:
    keys: dict[uuid.UUID, list[BotKey]] = {}
    if bot_ids:
        for row in await session.scalars(
            select(BotKey).where(BotKey.bot_id.in_(bot_ids)).order_by(BotKey.created_at)
        ):
            keys.setdefault(row.bot_id, []).append(row)
    return keys
