"""Where usage lives in Redis: the contract between the request path and the flusher.

Redis holds counters that only grow; PostgreSQL holds, per counter, how much of it is
already in the ledger (the watermark). A flush reads the counters and writes the part above
the watermark; Redis losing writes (a restart with `appendfsync everysec`, a promoted
replica, an empty instance) can then only make a counter fall below its watermark, which
the flusher detects and counts, never reports twice (`usage/ledger.py`).

Every key carries the deployment's `REDIS_KEY_PREFIX` and a shard hash tag `{<shard>}`, so
each Lua script touches the keys of ONE shard, i.e. one Redis Cluster slot. An item's
counters live in `shard_of(item_id)`, a key's in `shard_of(api_key_id)`. `SHARDS` is `USAGE_SHARDS` (1, or 12
with `REDIS_CLUSTER=true`, so the counters spread over the cluster's masters), set once per
process when its resources open (`use_shards`); it must not change while Redis holds counters
(a field would move to another hash).

Per shard `s`:
- `usage:{s}:period` (hash): `"{subscription_item_id}:{period_start_epoch}"` → every unit
  served in that billing period. The billing counter; also the period total that caps,
  `/v1/usage` and the usage headers read without touching the database.
- `usage:{s}:key_day` (hash): `"{api_key_id}:{YYYY-MM-DD}"` (UTC day) → units served with
  that key that day (analytics, the dashboard chart).
- `usage:{s}:key_last_used` (hash): `"{api_key_id}"` → Unix seconds of its latest request.
- `usage:{s}:changed` (set): `"p|{period field}"` and `"k|{key-day field}"` of counters that
  grew since the flusher last took the set; written in the same script as the counters.
- `usage:{s}:changed:taken` (set): the members a flusher took, until its ledger commit.
- `usage:{s}:moved:{worker_id}` (string): the number of the worker's last batch applied to
  this shard, so a resent batch is applied at most once (`usage/tally.py`).
- `usage:{s}:flushed` (string, Redis Cluster only): the id of the last flush that read the
  shard, written so the flusher can wait for the replicas (`redis.confirm_replicated`).

Per UTC day `d`, outside the shards (analytics, never billed from):
- `content:{d:YYYY-MM-DD}` (hash): content path (the item path of `/v1/content/…`, the
  gateway path) → units served that day; `"(other)"` for the paths beyond a worker's cap.
  Moved by the tally with plain HINCRBYs (no script: the day's hash tag is its own slot),
  expiring `CONTENT_DAY_TTL_SECONDS` after its last write; read by the console.

The global limits' leases (`access/leases.py`) keep their own keys, hash-tagged per API key
(`limits:{key:<id>}:…`) and per item (`limits:{item:<id>}:…`).

`period_start_epoch` is the integer Unix time of the item's period start (Stripe's item
period), so units served just before a period closed still count against that period.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

SHARDS = 1  # the process's layout: `use_shards`
PERIOD_FIELD = "p"  # member tags of the changed sets
KEY_DAY_FIELD = "k"
UNATTRIBUTED = "usage:unattributed"  # flusher only: units of items that no longer exist
CONTENT_DAY_TTL_SECONDS = 70 * 86_400  # this month and the last one, whole
OTHER_CONTENT = "(other)"  # the paths beyond a worker's cap of distinct paths


def use_shards(count: int) -> int:
    """Lay the counters over `count` shards from now on; returns the previous count."""
    global SHARDS
    previous, SHARDS = SHARDS, count
    return previous


def shard_of(entity_id: uuid.UUID | str) -> int:
    if SHARDS == 1:
        return 0
    value = entity_id if isinstance(entity_id, uuid.UUID) else uuid.UUID(str(entity_id))
    return value.int % SHARDS


def _key(shard: int, name: str) -> str:
    return f"usage:{{{shard}}}:{name}"


def period_totals(shard: int) -> str:
    return _key(shard, "period")


def key_days(shard: int) -> str:
    return _key(shard, "key_day")


def key_last_used(shard: int) -> str:
    return _key(shard, "key_last_used")


def changed(shard: int) -> str:
    return _key(shard, "changed")


def changed_taken(shard: int) -> str:
    return _key(shard, "changed:taken")


def move_marker(shard: int, worker_id: str) -> str:
    return _key(shard, f"moved:{worker_id}")


def flush_mark(shard: int) -> str:
    """Cluster only: the last flush that read the shard (a write to confirm replication by)."""
    return _key(shard, "flushed")


def content_day(day: date | str) -> str:
    """The hash of one UTC day's units per content path (one slot: the whole key is tagged)."""
    text = day if isinstance(day, str) else day.isoformat()
    return f"content:{{d:{text}}}"


def period_totals_of(period_field: str) -> str:
    """The hash holding one item period's counter (the key's name, without the prefix)."""
    return period_totals(shard_of(period_field.rsplit(":", 1)[0]))


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
