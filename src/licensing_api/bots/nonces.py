"""Seen Web Bot Auth nonces, in Redis: a signature is accepted once per nonce.

A keyless bot's signature is its bearer credential for its whole window: captured once, it
could be replayed, and every replay would be billed to the bot's owner. So a signed request
is served only if its (keyid, nonce) is new: `SET key 1 NX EX ttl`, the key living until the
signature expires (plus the clock skew allowed), after which the signature itself is refused.

Why a round trip, and why it is cheap. The check must be made before serving (a replay must be
refused, not found later) and across every worker and host (a replay goes to any of them), so
no per-worker memory can answer it. It costs no database query and only signed keyless
requests pay it; API-key requests never do. Concurrent checks are coalesced: every check
made while a round trip is being prepared joins one pipeline, so N signed requests in flight
cost one round trip, not N. If Redis cannot answer, the request is refused (503): accepting
it would accept replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import math

from redis.asyncio import Redis

from licensing_api.standards.webbotauth import CLOCK_SKEW_SECONDS

NONCE_KEY = "wba:nonce:"


class NonceStore:
    def __init__(self, redis: Redis, redis_key_prefix: str) -> None:
        self.redis = redis
        self.prefix = redis_key_prefix + NONCE_KEY
        self._pending: list[tuple[str, int, asyncio.Future[bool]]] = []
        self._sending = False
        self.round_trips = 0  # for tests and the README's figures

    def key(self, keyid: str, nonce: str) -> str:
        return self.prefix + hashlib.sha256(f"{keyid}\n{nonce}".encode()).hexdigest()[:40]

    async def first_use(self, keyid: str, nonce: str, expires: int, now: float) -> bool:
        """True the first time (keyid, nonce) is seen before `expires`; False for a replay.
        Raises the Redis error if the store cannot answer."""
        ttl = max(1, math.ceil(expires + CLOCK_SKEW_SECONDS - now))
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((self.key(keyid, nonce), ttl, future))
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._send()))
        return await future

    async def _send(self) -> None:
        batch, self._pending = self._pending, []
        self._sending = False
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key, ttl, _ in batch:
                pipe.set(key, b"1", nx=True, ex=ttl)
            results = await pipe.execute()
            self.round_trips += 1
        except BaseException as exc:  # every waiting request gets the failure, none is lost
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(bool(result))
