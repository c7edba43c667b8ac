"""The embedded Redis snapshot: every key and expiry survives a save and a load, once."""

from __future__ import annotations

import time

import fakeredis

from licensing_api.embedded_redis import load_snapshot, save_snapshot


def _fresh() -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=False)


async def test_every_kind_of_key_and_its_expiry_comes_back_and_the_file_is_used_once(tmp_path):
    path = tmp_path / "var" / "embedded-redis.json"
    before = _fresh()
    await before.hset(b"p:usage:pending", mapping={b"item:1764547200": b"7", b"\xff\x00": b"1"})
    await before.set(b"p:signup:secret:cs_1", b"lk_secret", ex=3600)
    await before.set(b"p:gone", b"x", px=1)
    await before.sadd(b"p:usage:inflight", b"f1", b"f2")
    await before.zadd(b"p:z", {b"a": 1.5, b"b": 2})
    await before.rpush(b"p:l", b"1", b"2", b"1")
    time.sleep(0.01)  # p:gone expires before the save

    assert await save_snapshot(before, path) == 5
    after = _fresh()
    assert await load_snapshot(after, path) == 5

    assert await after.hgetall(b"p:usage:pending") == {b"item:1764547200": b"7", b"\xff\x00": b"1"}
    assert await after.get(b"p:signup:secret:cs_1") == b"lk_secret"
    assert 3500_000 < await after.pttl(b"p:signup:secret:cs_1") <= 3600_000
    assert await after.pttl(b"p:usage:pending") == -1
    assert not await after.exists(b"p:gone")
    assert await after.smembers(b"p:usage:inflight") == {b"f1", b"f2"}
    assert await after.zrange(b"p:z", 0, -1, withscores=True) == [(b"a", 1.5), (b"b", 2.0)]
    assert await after.lrange(b"p:l", 0, -1) == [b"1", b"2", b"1"]
    # Loaded once: a second load (after a crash, say) must not count the pending units again.
    assert not path.exists()
    assert await load_snapshot(_fresh(), path) == 0
