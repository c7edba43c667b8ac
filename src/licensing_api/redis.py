"""Redis client construction: `redis://` for the real server, `memory://` in-process."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    if url == "memory://":
        # Import here: fakeredis is only needed for the embedded single-process default.
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=False)
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)
