"""What the request path knows about a registered bot's key: the bot credential's
`AccessRecord`, with the key its signatures must verify with. Read on a cache miss only."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.records import AccessRecord, load_access_record
from licensing_api.billing.plans import PlanCatalogue
from licensing_api.bots.models import Bot, BotKey, BotStatus
from licensing_api.keys.models import ApiKey
from licensing_api.standards.httpsig import VerifyingKey

BOT_CACHE_PREFIX = "wba:"


def bot_cache_key(thumbprint: str) -> str:
    """The access cache entry of a bot key (API keys are found by their hex digest)."""
    return BOT_CACHE_PREFIX + thumbprint


async def load_bot_record(
    session: AsyncSession, catalogue: PlanCatalogue, thumbprint: str
) -> AccessRecord | None:
    """The record of the active bot that owns key `thumbprint`, or None. Two queries."""
    row = (
        await session.execute(
            select(BotKey.jwk, ApiKey.digest)
            .join(Bot, Bot.id == BotKey.bot_id)
            .join(ApiKey, ApiKey.id == Bot.api_key_id)
            .where(BotKey.thumbprint == thumbprint, Bot.status == BotStatus.ACTIVE)
        )
    ).first()
    if row is None:
        return None
    record = await load_access_record(session, catalogue, row.digest)
    return replace(record, bot_key=VerifyingKey.from_jwk(row.jwk)) if record is not None else None


async def is_registered_directory(session: AsyncSession, directory_url: str) -> bool:
    return bool(await session.scalar(
        select(exists().where(Bot.directory_url == directory_url, Bot.status == BotStatus.ACTIVE))
    ))
