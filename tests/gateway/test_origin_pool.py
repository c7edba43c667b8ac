"""The gateway's connection pool to the origin (a real origin process): connections are
reused, never more than the limit are open, and waiting too long for one is a timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from licensing_api.gateway.origin_pool import LifoConnectionPool, origin_transport
from tests.gateway.site import build_site


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("pool-site"), big_file=False)


def pool_of(client: httpx.AsyncClient) -> LifoConnectionPool:
    return client._transport._pool  # type: ignore[attr-defined,no-any-return]


async def get(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.send(client.build_request("GET", url), stream=True)
    try:
        return b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()


async def test_one_connection_serves_requests_one_after_another(origin):
    async with httpx.AsyncClient(transport=origin_transport(10)) as client:
        bodies = [await get(client, origin.base_url + "/index.html") for _ in range(5)]
        assert len(set(bodies)) == 1 and bodies[0].startswith(b"<html>")
        assert pool_of(client).opened == 1


async def test_no_more_than_the_limit_are_open_at_once(origin):
    async with httpx.AsyncClient(transport=origin_transport(2)) as client:
        bodies = await asyncio.gather(*(get(client, origin.base_url + "/index.html") for _ in range(8)))
        assert len(bodies) == 8
        assert pool_of(client).opened <= 2


async def test_a_response_left_unread_does_not_return_its_connection(origin):
    async with httpx.AsyncClient(transport=origin_transport(1)) as client:
        response = await client.send(client.build_request("GET", origin.base_url + "/files/warm-up.bin"), stream=True)
        await response.aclose()  # the body was not read: the connection cannot carry another request
        assert (await get(client, origin.base_url + "/index.html")).startswith(b"<html>")
        assert pool_of(client).opened == 2


async def test_waiting_longer_than_the_pool_timeout_is_a_timeout(origin):
    timeout = httpx.Timeout(5, pool=0.05)
    async with httpx.AsyncClient(transport=origin_transport(1), timeout=timeout) as client:
        held = await client.send(client.build_request("GET", origin.base_url + "/index.html"), stream=True)
        with pytest.raises(httpx.PoolTimeout):
            await client.send(client.build_request("GET", origin.base_url + "/index.html"), stream=True)
        await held.aclose()
        assert (await get(client, origin.base_url + "/index.html")).startswith(b"<html>")
