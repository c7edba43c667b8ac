"""The flusher's side of Redis: which counters changed, their values, raising regressed ones.

`read_changed` moves each shard's `changed` set into `changed:taken` (one Lua step, so a
counter that grows meanwhile is marked in a fresh `changed` set) and reads the taken
counters. Reading after the move is safe: a value read later only includes more units, and
those units also marked the counter changed again, so the next flush looks at it once more.
`release` drops the taken members once the ledger holds their values; a flusher that dies
before that leaves them taken, and the next flush reads them again (the watermarks make
that harmless). Every step touches one shard's keys only (`usage/redis_keys.py`).

On a Redis Cluster each shard is read over one connection to the master of its slot, and the
read counts only once that master's replicas confirm they hold what was read
(`redis.confirm_replicated`): a master killed right after could otherwise take with it
units the flusher already billed, and a worker resending them to the promoted replica would
have them billed twice. A shard whose master is down or unconfirmed is left for the next
flush (`usage_shard_unread`); the other shards are flushed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date

from redis.asyncio import Redis
from redis.exceptions import RedisError

from licensing_api.redis import confirm_replicated, is_cluster, slot_master
from licensing_api.usage import redis_keys

logger = logging.getLogger(__name__)

READ_CHUNK = 5000
MAX_CHANGED_PER_FLUSH = 250_000  # the rest waits for the next flush, still marked

# KEYS: changed, changed:taken. Returns how many members are taken.
_TAKE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
return redis.call('SCARD', KEYS[2])
"""

# KEYS: one counter hash. ARGV: field, floor pairs. Raises each counter below its floor to it
# (the floor is what the ledger already holds), so units served later count from there.
_RAISE_SCRIPT = """
for i = 1, #ARGV, 2 do
  local value = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if value < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
"""


@dataclass(slots=True)
class ChangedCounters:
    """Counters read from Redis in one flush, with the set members to release afterwards."""

    period_totals: dict[tuple[uuid.UUID, int], int] = field(default_factory=dict)
    key_days: dict[tuple[uuid.UUID, date], int] = field(default_factory=dict)
    last_used: dict[uuid.UUID, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)  # period fields off the layout
    members: dict[int, list[bytes]] = field(default_factory=dict)  # shard → taken members

    @property
    def is_empty(self) -> bool:
        return not any(self.members.values())


async def read_changed(redis: Redis, prefix: str, flush_id: str = "") -> ChangedCounters:
    found = ChangedCounters()
    budget = MAX_CHANGED_PER_FLUSH
    for shard in range(redis_keys.SHARDS):
        if not is_cluster(redis):
            budget -= await _take_shard(redis, prefix, shard, budget, found, flush_id)
            continue
        part = ChangedCounters()
        try:
            budget -= await _take_shard(redis, prefix, shard, budget, part, flush_id)
        except (RedisError, OSError) as exc:
            # This master is down or its replicas cannot confirm: its shards wait (still
            # taken, read again next time), the other masters' are flushed.
            logger.warning("usage_shard_unread", extra={
                "shard": shard, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        _merge(found, part)
    return found


async def _take_shard(
    redis: Redis, prefix: str, shard: int, budget: int, found: ChangedCounters, flush_id: str
) -> int:
    """Take and read one shard's changed counters into `found`; returns how many."""
    taken = prefix + redis_keys.changed_taken(shard)
    await redis.eval(_TAKE_SCRIPT, 2, prefix + redis_keys.changed(shard), taken)  # type: ignore[misc]
    async with slot_master(redis, taken) as master:
        members = sorted(await master.smembers(taken))[:budget]  # type: ignore[misc]
        found.members[shard] = members
        await _read_shard(master, prefix, shard, members, found)
        if members and is_cluster(redis):
            await confirm_replicated(master, prefix + redis_keys.flush_mark(shard), flush_id)
    return len(members)


def _merge(found: ChangedCounters, part: ChangedCounters) -> None:
    found.period_totals.update(part.period_totals)
    found.key_days.update(part.key_days)
    found.last_used.update(part.last_used)
    found.unreadable.update(part.unreadable)
    found.members.update(part.members)


async def _read_shard(
    redis: Redis, prefix: str, shard: int, members: list[bytes], found: ChangedCounters
) -> None:
    periods = [m[2:].decode() for m in members if m[:2] == b"p|"]
    days = [m[2:].decode() for m in members if m[:2] == b"k|"]
    for fieldname, value in await _values(redis, prefix + redis_keys.period_totals(shard), periods):
        try:
            found.period_totals[redis_keys.parse_item_period_field(fieldname)] = value
        except ValueError:
            found.unreadable[fieldname] = value
    key_ids: set[str] = set()
    for fieldname, value in await _values(redis, prefix + redis_keys.key_days(shard), days):
        try:
            found.key_days[redis_keys.parse_key_day_field(fieldname)] = value
            key_ids.add(fieldname.rsplit(":", 1)[0])
        except ValueError:
            logger.warning("usage_unreadable_key_field", extra={"field": fieldname})
    for key_id, seconds in await _values(redis, prefix + redis_keys.key_last_used(shard), sorted(key_ids)):
        found.last_used[uuid.UUID(key_id)] = seconds


async def _values(redis: Redis, key: str, fields: list[str]) -> list[tuple[str, int]]:
    chunks = [fields[start:start + READ_CHUNK] for start in range(0, len(fields), READ_CHUNK)]
    if not chunks:
        return []
    async with redis.pipeline(transaction=False) as pipe:  # one round trip for every chunk
        for chunk in chunks:
            pipe.hmget(key, chunk)
        replies = await pipe.execute()
    return [(f, int(float(v))) for chunk, values in zip(chunks, replies, strict=True)
            for f, v in zip(chunk, values, strict=True) if v is not None]


async def raise_to_floors(
    redis: Redis, prefix: str,
    period_floors: dict[tuple[uuid.UUID, int], int], key_day_floors: dict[tuple[uuid.UUID, date], int],
) -> None:
    """Raise regressed counters back to what the ledger holds (never lowers one)."""
    by_hash: dict[str, list[str | int]] = {}
    for (item_id, epoch), floor in period_floors.items():
        name = prefix + redis_keys.period_totals(redis_keys.shard_of(item_id))
        by_hash.setdefault(name, []).extend([f"{item_id}:{epoch}", floor])
    for (key_id, day), floor in key_day_floors.items():
        name = prefix + redis_keys.key_days(redis_keys.shard_of(key_id))
        by_hash.setdefault(name, []).extend([redis_keys.key_day_field(key_id, day), floor])
    for name, args in by_hash.items():
        await redis.eval(_RAISE_SCRIPT, 1, name, *args)  # type: ignore[misc]


async def release(redis: Redis, prefix: str, found: ChangedCounters) -> None:
    for shard, members in found.members.items():
        for start in range(0, len(members), READ_CHUNK):
            await redis.srem(prefix + redis_keys.changed_taken(shard), *members[start:start + READ_CHUNK])  # type: ignore[misc]


async def changed_count(redis: Redis, prefix: str) -> int:
    """Counters marked changed (taken or not) that the ledger may not hold yet."""
    total = 0
    for shard in range(redis_keys.SHARDS):
        total += await redis.scard(prefix + redis_keys.changed(shard))  # type: ignore[misc]
        total += await redis.scard(prefix + redis_keys.changed_taken(shard))  # type: ignore[misc]
    return total
