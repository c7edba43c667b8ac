"""A key revoked in one process is refused by another process's worker within a second.

The worker under test is a uvicorn subprocess whose cache would trust the key for an hour
(ACCESS_CACHE_TTL_SECONDS=3600): only the Redis pub/sub message can make it refuse in time.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx

from tests.access.helpers import another_key, new_crawler
from tests.access.service_process import running_service, service_env

ITEM = "/v1/content/urban-beekeeping"
REFUSAL_DEADLINE_SECONDS = 1.0


async def seconds_until_refused(http: httpx.AsyncClient, headers: dict[str, str]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 5:
        if (await http.get(ITEM, headers=headers)).status_code == 403:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError("the revoked key is still served after 5 s")


async def test_a_key_revoked_through_the_api_elsewhere_is_refused_within_a_second(api, settings):
    crawler = await new_crawler(api.resources)
    spare = await another_key(api.resources, crawler)
    async with running_service(settings, ACCESS_CACHE_TTL_SECONDS="3600") as service:
        async with httpx.AsyncClient(base_url=service.base_url) as http:
            assert (await http.get(ITEM, headers=crawler.headers)).status_code == 200  # cached
            revoked = await api.client.delete(f"/v1/keys/{crawler.key_id}", headers=spare.headers)
            assert revoked.status_code == 200
            assert await seconds_until_refused(http, crawler.headers) < REFUSAL_DEADLINE_SECONDS
            assert (await http.get(ITEM, headers=spare.headers)).status_code == 200


async def test_a_key_revoked_with_the_cli_is_refused_within_a_second(api, settings):
    crawler = await new_crawler(api.resources)
    async with running_service(settings, ACCESS_CACHE_TTL_SECONDS="3600") as service:
        async with httpx.AsyncClient(base_url=service.base_url) as http:
            assert (await http.get(ITEM, headers=crawler.headers)).status_code == 200  # cached
            env = {**service_env(settings), "PATH": os.environ["PATH"]}
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "licensing_api.cli", "keys", "revoke", str(crawler.key_id)],
                env=env, capture_output=True, text=True, timeout=60,
            )
            assert result.returncode == 0, result.stderr
            assert await seconds_until_refused(http, crawler.headers) < REFUSAL_DEADLINE_SECONDS
