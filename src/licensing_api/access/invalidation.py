"""Hot-path cache invalidation across every worker and host, over Redis pub/sub.

Whoever changes account or key state (key revoked, state machine transition, plan change)
calls `invalidate_after_commit`: once the transaction commits, one message goes to the
channel `{REDIS_KEY_PREFIX}access:invalidate`, and each worker's subscriber drops the
matching cache entries at once. Message body (JSON): `{"customer_id": "<uuid>"}` drops
every key of that customer, `{"key_digest": "<hex>"}` one key, `{"all": true}` everything.
"""

from __future__ import annotations

import json
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.db import after_commit

CHANNEL = "access:invalidate"


def channel_name(redis_key_prefix: str) -> str:
    return redis_key_prefix + CHANNEL


async def publish_invalidation(
    redis: Redis,
    redis_key_prefix: str,
    *,
    customer_id: uuid.UUID | None = None,
    key_digest: str | None = None,
) -> None:
    if customer_id is not None:
        message = {"customer_id": str(customer_id)}
    elif key_digest is not None:
        message = {"key_digest": key_digest}
    else:
        message = {"all": True}
    await redis.publish(channel_name(redis_key_prefix), json.dumps(message))


def invalidate_after_commit(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    *,
    customer_id: uuid.UUID | None = None,
    key_digest: str | None = None,
) -> None:
    async def publish() -> None:
        await publish_invalidation(
            redis, redis_key_prefix, customer_id=customer_id, key_digest=key_digest
        )

    after_commit(session, publish)
