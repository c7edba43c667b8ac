"""Where usage lives in Redis: the contract between the request path and the flusher.

All keys carry the deployment's `REDIS_KEY_PREFIX`. Values are integers (`HINCRBY`).

- `usage:pending` (hash): field `"{subscription_item_id}:{period_start_epoch}"` → units served
  and not yet taken by the flusher. Workers add with `HINCRBY`; the flusher takes the whole
  hash atomically (read and delete in one Lua step) and writes it to the ledger.
- `usage:pending_by_key` (hash): field `"{api_key_id}:{YYYY-MM-DD}"` (UTC day) → units per
  key per day not yet taken; the flusher moves them into `key_daily_usage`.
- `usage:period` (hash): field `"{subscription_item_id}:{period_start_epoch}"` → every unit
  served in that billing period, never decremented by flushes. It answers "units this
  period" (caps, `/v1/usage`, usage headers) without touching the database.

- `usage:key_last_used` (hash): field `"{api_key_id}"` → Unix seconds of the key's latest
  served request (workers `HSET` it with their tally); the flusher copies it into
  `api_keys.last_used_at`, so the request path never writes the database.

- `usage:inflight` (set): ids of batches the flusher took out of the three hashes above and
  has not yet deleted. Each batch lives in `usage:inflight:{flush_id}:{name}` (the taken
  `pending`, `pending_by_key` and `key_last_used` hashes, renamed in one Lua step). Only the
  flusher reads or writes them; once the batch is in the ledger (`usage_flushes` row with the
  same id) they are deleted, and a batch without a ledger row is written by the next flush.

`period_start_epoch` is the integer Unix time of the item's current period start, so units
served just before a period closed are still reported against that period (late usage).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

PENDING = "usage:pending"
PENDING_BY_KEY = "usage:pending_by_key"
PERIOD_TOTALS = "usage:period"
KEY_LAST_USED = "usage:key_last_used"
INFLIGHT = "usage:inflight"
TAKEN_HASHES = (PENDING, PENDING_BY_KEY, KEY_LAST_USED)


def inflight_key(flush_id: str, taken_hash: str) -> str:
    """Where a taken hash (one of `TAKEN_HASHES`) waits until its batch is in the ledger."""
    return f"{INFLIGHT}:{flush_id}:{taken_hash.removeprefix('usage:')}"


def item_period_field(item_id: uuid.UUID | str, period_start: datetime) -> str:
    return f"{item_id}:{int(period_start.timestamp())}"


def parse_item_period_field(field: str | bytes) -> tuple[uuid.UUID, int]:
    text = field.decode() if isinstance(field, bytes) else field
    item, epoch = text.rsplit(":", 1)
    return uuid.UUID(item), int(epoch)


def key_day_field(api_key_id: uuid.UUID | str, day: date) -> str:
    return f"{api_key_id}:{day.isoformat()}"


def parse_key_day_field(field: str | bytes) -> tuple[uuid.UUID, date]:
    text = field.decode() if isinstance(field, bytes) else field
    key_id, day = text.rsplit(":", 1)
    return uuid.UUID(key_id), date.fromisoformat(day)
