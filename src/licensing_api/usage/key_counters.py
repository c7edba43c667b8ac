"""Per-key counters as Redis holds them now: what the dashboard adds to the flushed rows.

Redis's per-key daily counters only grow and the flush copies them into `key_daily_usage`
as a maximum, so the live figure of a (key, day) is the larger of the two.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from redis.asyncio import Redis

from licensing_api.usage import redis_keys


async def key_day_units(
    redis: Redis, prefix: str, pairs: list[tuple[uuid.UUID, date]]
) -> dict[tuple[uuid.UUID, date], int]:
    """Units Redis holds per (key, UTC day); pairs Redis does not hold are left out."""
    by_shard: dict[int, list[tuple[uuid.UUID, date]]] = defaultdict(list)
    for key_id, day in pairs:
        by_shard[redis_keys.shard_of(key_id)].append((key_id, day))
    found: dict[tuple[uuid.UUID, date], int] = {}
    for shard, wanted in by_shard.items():
        values = await redis.hmget(  # type: ignore[misc]
            prefix + redis_keys.key_days(shard),
            [redis_keys.key_day_field(key_id, day) for key_id, day in wanted],
        )
        found.update({pair: int(v) for pair, v in zip(wanted, values, strict=True) if v is not None})
    return found


async def last_used_marks(redis: Redis, prefix: str, key_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """Unix seconds of each key's latest request as the workers recorded it in Redis."""
    by_shard: dict[int, list[uuid.UUID]] = defaultdict(list)
    for key_id in key_ids:
        by_shard[redis_keys.shard_of(key_id)].append(key_id)
    marks: dict[uuid.UUID, float] = {}
    for shard, wanted in by_shard.items():
        values = await redis.hmget(  # type: ignore[misc]
            prefix + redis_keys.key_last_used(shard), [str(k) for k in wanted]
        )
        marks.update({k: float(v) for k, v in zip(wanted, values, strict=True) if v is not None})
    return marks
