"""Two `licensing-api serve` hosts (2 workers each) behind Debian's nginx running
deploy/nginx.conf, sharing one PostgreSQL, one Redis and the local Stripe server, as
deploy/README.md lays them out (tests/deploy/hosts.py: network namespaces where possible).

- a key revoked through one host is refused by every worker of every host within a second
  (their caches would trust it for an hour: only the Redis invalidation can do it);
- across the 4 workers exactly one flusher holds the PostgreSQL advisory lock at any time;
- under load through nginx, one host SIGTERMed midway: no request fails, the stopped host
  drains and exits 0, and after the flush the units in Stripe's meter event summaries equal
  the 200s the client received, host by host as nginx logged them.

MULTIHOST_NETWORK=ports forces the separate-ports layout that machines without network
namespaces (not root, no socat) get anyway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from licensing_api.keys.service import create_key
from licensing_api.resources import Resources
from licensing_api.usage.lock import advisory_lock_key
from tests.billing.stripe_setup import with_billing
from tests.deploy.hosts import Host, host_network, start_balancer, start_host, wait_ready
from tests.usage.flusher_support import BilledItem, opened, provision, settle

pytestmark = pytest.mark.slow

ITEM = "/v1/content/urban-beekeeping"
WORKERS_PER_HOST = 2
REFUSAL_DEADLINE_SECONDS = 1.0
CLIENTS = 12
LOAD_SECONDS = 6.0
SIGTERM_AFTER_SECONDS = 2.5
PLAN = """
[plans.multihost-{suffix}]
name = "Multi-host"
kind = "hybrid"
currency = "usd"
interval = "month"
base_amount = 100
included_units = 1000
unit_amount_decimal = "0.1"
rate_limit_per_second = 1000000
"""


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def fresh_get(url: str, headers: dict[str, str]) -> int:
    """On a new connection each time, so the kernel spreads them over the host's workers."""
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(url + ITEM, headers=headers)).status_code


async def seconds_until_refused(url: str, headers: dict[str, str], started: float) -> float:
    while time.monotonic() - started < 5:
        if await fresh_get(url, headers) == 403:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"{url} still serves the revoked key after 5 s")


async def flusher_lock_holders(database_url: str, scope: str, stop: asyncio.Event) -> list[int]:
    """Every 50 ms: how many sessions hold the flusher's advisory lock in this database."""
    key = advisory_lock_key(scope) & 0xFFFFFFFFFFFFFFFF  # pg_locks splits it into two oids
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    samples = []
    try:
        while not stop.is_set():
            samples.append(await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
                key >> 32, key & 0xFFFFFFFF))
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    return samples


async def closed_loop(url: str, headers: dict[str, str], until: float, statuses: list[int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.monotonic() < until:
            statuses.append((await http.get(ITEM, headers=headers)).status_code)


async def revocation_reaches_every_host(hosts: list[Host], secret: str, spare_secret: str, key_id: uuid.UUID) -> None:
    for host in hosts:  # every worker caches the key as valid (a new connection per request)
        assert [await fresh_get(host.url, bearer(secret)) for _ in range(6)] == [200] * 6
    async with httpx.AsyncClient(base_url=hosts[0].url, timeout=10) as http:
        started = time.monotonic()
        revoked = await http.delete(f"/v1/keys/{key_id}", headers=bearer(spare_secret))
    assert revoked.status_code == 200, revoked.text
    waits = await asyncio.gather(*(seconds_until_refused(h.url, bearer(secret), started) for h in hosts))
    assert max(waits) < REFUSAL_DEADLINE_SECONDS, waits
    await asyncio.sleep(max(0.0, started + REFUSAL_DEADLINE_SECONDS - time.monotonic()))
    for host in hosts:  # a second on, no worker of any host serves it
        assert [await fresh_get(host.url, bearer(secret)) for _ in range(8)] == [403] * 8
        assert await fresh_get(host.url, bearer(spare_secret)) == 200


def summarised_units(stripe_server, item: BilledItem) -> int:
    """The item's units as Stripe's meter event summaries give them (validated first)."""
    client = stripe_server.stripe_client()
    meter = next(m for m in client.v1.billing.meters.list({"limit": 100}).auto_paging_iter()
                 if m.event_name == item.event_name)
    stripe_server.validate_meter_events()
    now = int(time.time())
    hour = now - now % 3600
    summaries = client.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": item.stripe_customer_id, "start_time": hour - 86400, "end_time": hour + 7200})
    return int(sum(s.aggregated_value for s in summaries.data))


async def test_two_hosts_behind_nginx(settings, stripe_server, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    plans_file = tmp_path / "plans.toml"
    plans_file.write_text(PLAN.format(suffix=suffix))
    prefix = f"{settings.redis_key_prefix}multihost-{suffix}:"
    billed = with_billing(settings, stripe_server, plans_file, redis_key_prefix=prefix,
                          usage_flush_interval_seconds=0.2)
    ports = [urlsplit(u).port for u in (billed.database_url, billed.redis_url, stripe_server.url)]
    async with opened(billed) as resources:
        loaded = await provision(resources, "multihost")
        revoked = await provision(resources, "multihost")
        async with session_scope(resources.sessionmaker) as session:
            spare = await create_key(session, (await _customer_of(resources, revoked)), name="spare")
        with host_network(2, [p for p in ports if p], kind=os.environ.get("MULTIHOST_NETWORK")) as network:
            env = {
                "PATH": os.environ["PATH"],
                "DATABASE_URL": network.reach(billed.database_url),
                "REDIS_URL": network.reach(billed.redis_url),
                "REDIS_KEY_PREFIX": prefix,
                "PLANS_FILE": str(plans_file),
                "STRIPE_API_KEY": stripe_server.api_key,
                "STRIPE_API_BASE": network.reach(stripe_server.url),
                "USAGE_FLUSH_INTERVAL_SECONDS": "0.2",
                "ACCESS_CACHE_TTL_SECONDS": "3600",
                "FORWARDED_ALLOW_IPS": network.balancer_address,
                "SESSION_SECRET": f"multihost-session-secret-{suffix}-0123456789abcdef",
                "LOG_LEVEL": "info",
                "ACCESS_LOG": "false",
            }
            hosts = [start_host(network, i, env, tmp_path / f"host{i}", WORKERS_PER_HOST) for i in range(2)]
            balancer = None
            stop_sampling = asyncio.Event()
            sampler = asyncio.create_task(flusher_lock_holders(settings.database_url, prefix, stop_sampling))
            try:
                await asyncio.gather(*(wait_ready(h) for h in hosts))
                upstreams = [f"{network.host_addresses[i]}:{network.host_ports[i]}" for i in range(2)]
                balancer = await start_balancer(tmp_path / "nginx", upstreams)

                await revocation_reaches_every_host(hosts, revoked.api_key_secret, spare.secret, revoked.api_key_id)

                async with httpx.AsyncClient(base_url=balancer.url) as http:  # the public edge only
                    assert (await http.get("/admin/customers")).status_code == 404
                    assert (await http.get("/metrics")).status_code == 404

                statuses: list[int] = []
                until = time.monotonic() + LOAD_SECONDS
                load = [asyncio.create_task(closed_loop(balancer.url, bearer(loaded.api_key_secret), until, statuses))
                        for _ in range(CLIENTS)]
                await asyncio.sleep(SIGTERM_AFTER_SECONDS)
                stopped_at = time.monotonic()
                assert await hosts[1].stop(signal.SIGTERM) == 0, hosts[1].log.read_text()[-3000:]
                drain_seconds = time.monotonic() - stopped_at
                await asyncio.gather(*load)
                assert await hosts[0].stop(signal.SIGTERM) == 0, hosts[0].log.read_text()[-3000:]
            finally:
                stop_sampling.set()
                holders = await sampler
                if balancer is not None:
                    balancer.stop()
                for host in hosts:
                    host.kill()

        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert drain_seconds < 15
        served = balancer.served_by(ITEM)
        assert len(served) == 2 and all(served.values()), served  # both hosts served under load
        assert sum(served.values()) == len(statuses)
        assert max(holders) == 1, "two flushers held the lock at once"
        assert 1 in holders  # and one did

        await settle(resources, loaded)  # what a remaining flusher would do next
        assert summarised_units(stripe_server, loaded) == len(statuses)


async def _customer_of(resources: Resources, item: BilledItem) -> uuid.UUID:
    async with session_scope(resources.sessionmaker) as session:
        key = await session.get(ApiKey, item.api_key_id)
        assert key is not None
        return key.customer_id
