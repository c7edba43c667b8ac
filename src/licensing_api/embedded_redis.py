"""`REDIS_URL=memory://` kept across a graceful restart: a snapshot file of the in-process Redis.

The embedded Redis lives in the service process, so everything in it (units not yet
flushed into the ledger, the period totals behind `/v1/usage` and caps, batches in flight)
would end with the process. On graceful shutdown, after the last tally move, the app writes
every key to `EMBEDDED_REDIS_FILE`; the next start loads it and deletes the file.

Deleted once loaded, because a snapshot loaded twice would count its pending units twice
(after a crash, the units since the start are lost instead: under-counting, never double).
The file is JSON (bytes as base64), written to a temporary name and renamed into place.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

logger = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1


async def save_snapshot(redis: Redis, path: Path) -> int:
    """Write every key (with its expiry) to `path`; the number of keys written."""
    entries = []
    now_ms = int(time.time() * 1000)
    async for key in redis.scan_iter(count=1000):
        entry = await _dump(redis, key, now_ms)
        if entry is not None:
            entries.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"version": SNAPSHOT_VERSION, "keys": entries}), encoding="utf-8")
    os.replace(partial, path)
    logger.info("embedded_redis_saved", extra={"path": str(path), "keys": len(entries)})
    return len(entries)


async def load_snapshot(redis: Redis, path: Path) -> int:
    """Load a snapshot written by `save_snapshot` and delete it; the number of keys loaded."""
    if not path.is_file():
        return 0
    snapshot = json.loads(path.read_text(encoding="utf-8"))
    if snapshot.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"{path}: unknown embedded Redis snapshot version {snapshot.get('version')!r}")
    now_ms = int(time.time() * 1000)
    loaded = 0
    for entry in snapshot["keys"]:
        expires_at = entry.get("expires_at_ms")
        if expires_at is not None and expires_at <= now_ms:
            continue
        await _restore(redis, entry)
        if expires_at is not None:
            await redis.pexpireat(_raw(entry["key"]), expires_at)
        loaded += 1
    path.unlink()
    logger.info("embedded_redis_loaded", extra={"path": str(path), "keys": loaded})
    return loaded


async def _dump(redis: Redis, key: bytes, now_ms: int) -> dict[str, Any] | None:
    kind = (await redis.type(key)).decode()
    if kind == "string":
        value: Any = _b64(await redis.get(key))
    elif kind == "hash":
        value = {_b64(f): _b64(v) for f, v in (await redis.hgetall(key)).items()}  # type: ignore[misc]
    elif kind == "set":
        value = [_b64(m) for m in await redis.smembers(key)]  # type: ignore[misc]
    elif kind == "zset":
        value = [[_b64(m), score] for m, score in await redis.zrange(key, 0, -1, withscores=True)]
    elif kind == "list":
        value = [_b64(item) for item in await redis.lrange(key, 0, -1)]  # type: ignore[misc]
    elif kind == "none":  # expired while we scanned
        return None
    else:
        logger.warning("embedded_redis_key_not_saved", extra={"type": kind})
        return None
    ttl_ms = await redis.pttl(key)
    return {"key": _b64(key), "type": kind, "value": value,
            "expires_at_ms": now_ms + ttl_ms if ttl_ms > 0 else None}


async def _restore(redis: Redis, entry: dict[str, Any]) -> None:
    key, kind, value = _raw(entry["key"]), entry["type"], entry["value"]
    if kind == "string":
        await redis.set(key, _raw(value))
    elif kind == "hash":
        await redis.hset(key, mapping={_raw(f): _raw(v) for f, v in value.items()})  # type: ignore[misc]
    elif kind == "set":
        await redis.sadd(key, *[_raw(m) for m in value])  # type: ignore[misc]
    elif kind == "zset":
        await redis.zadd(key, {_raw(m): score for m, score in value})
    elif kind == "list":
        await redis.rpush(key, *[_raw(item) for item in value])  # type: ignore[misc]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _raw(text: str) -> bytes:
    return base64.b64decode(text)
