"""One read per missing cache entry, however many requests wait for it (a cache miss is a
database read; a burst of requests for the same new key must not become a burst of reads)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s result; concurrent calls for the same `key` share one call. A waiter
        that is cancelled does not cancel the read the others wait for."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)
