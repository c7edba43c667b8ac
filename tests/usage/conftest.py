"""Fixtures of the usage tests (flusher settings and resources wired to the local Stripe server,
a Redis proxy that can drop the connection)."""

from collections.abc import AsyncIterator

import pytest

from tests.usage.flusher_support import flush_resources, flush_settings
from tests.usage.redis_proxy import RedisProxy

__all__ = ["flush_resources", "flush_settings", "proxy"]


@pytest.fixture
async def proxy() -> AsyncIterator[RedisProxy]:
    proxy = RedisProxy()
    await proxy.start()
    yield proxy
    await proxy.close()
