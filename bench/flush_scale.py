"""Scale benchmark: one usage flush of N active subscription items (default 100,000) must fit
in one USAGE_FLUSH_INTERVAL_SECONDS (60 s) against the local Stripe server with Stripe's
rate limits enforced, ledger writes included.

    .venv/bin/python -m bench.flush_scale [--items 100000] [--route stream|v1] [--rate-limits live] [--cluster]

Runs the Stripe server as its own process (rate limits off while the customers are created,
then the chosen profile for the flush), a fresh PostgreSQL database and a Redis key prefix
of its own on 127.0.0.1, fills Redis through the workers' own tally script as N items'
traffic would, times ONE `flush_once` (read the changed counters, write reports and move
the watermarks, send, mark sent), and prints the time, the Stripe calls by operation, the
time spent in database statements, and a check of the Stripe-side totals (after Stripe's
asynchronous validation). Everything it starts is stopped and dropped at the end.

`--cluster`: the counters on a local Redis Cluster of its own (3 masters + 3 replicas,
REDIS_CLUSTER=true, 12 shards; `tests/support/redis_cluster.py`) instead of the Redis on
6379; the time of the flush's Redis part (take, read, replicas' confirmation) is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import event, insert, select

from bench.harness import free_port
from licensing_api.usage import counters
from licensing_api import metrics
from licensing_api.accounts.models import Customer
from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.billing.plans import load_catalogue
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from licensing_api.resources import open_resources
from licensing_api.settings import load_settings
from licensing_api.usage import redis_keys
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.models import ReportState, UsageReport
from licensing_api.usage.stripe_reporter import STREAM_ABOVE, StripeMeterReporter
from licensing_api.usage.tally import UsageTally
from tests.stripe_server.pytest_plugin import API_KEY, StripeServerHandle
from tests.support import infra
from tests.support.redis_cluster import LocalRedisCluster

PLAN = "standard"
TALLY_CHUNK = 2000  # items per worker tally move while filling Redis
CHECKED_CUSTOMERS = 200


def start_stripe_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.stripe_server", "--port", str(port), "--rate-limits", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_control/rate_limits", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the local Stripe server did not start")


def create_stripe_customers(handle: StripeServerHandle, count: int) -> list[str]:
    """Set-up only: the local server's bulk control call (the flush is what is measured)."""
    ids: list[str] = []
    for start in range(0, count, 10_000):
        ids.extend(handle._post("/_control/customers", {"count": min(10_000, count - start)})["ids"])
    return ids


async def seed_database(resources, stripe_ids: list[str]) -> list[tuple[uuid.UUID, uuid.UUID, datetime]]:  # type: ignore[no-untyped-def]
    """Local rows for N customers on the metered plan: customer, subscription, item, key."""
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(days=3), now + timedelta(days=27)
    spec = resources.catalogue.get(PLAN)
    customers, subscriptions, items, keys, seeded = [], [], [], [], []
    for stripe_id in stripe_ids:
        customer_id, subscription_id, item_id, key_id = (uuid.uuid4() for _ in range(4))
        customers.append({"id": customer_id, "email": f"{stripe_id}@example.com",
                          "stripe_customer_id": stripe_id, "state": "active",
                          "created_at": now, "updated_at": now})
        subscriptions.append({"id": subscription_id, "customer_id": customer_id, "plan_id": PLAN,
                              "status": "active", "current_period_start": start,
                              "current_period_end": end, "created_at": now, "updated_at": now})
        items.append({"id": item_id, "subscription_id": subscription_id, "kind": "metered",
                      "meter_event_name": spec.meter_event_name, "current_period_start": start,
                      "current_period_end": end, "created_at": now})
        keys.append({"id": key_id, "customer_id": customer_id, "prefix": "lk_bench",
                     "digest": secrets.token_hex(32), "status": "active", "created_at": now})
        seeded.append((item_id, key_id, start))
    async with session_scope(resources.sessionmaker) as session:
        assert await session.get(Plan, PLAN) is not None
        for table, rows in ((Customer, customers), (Subscription, subscriptions),
                            (SubscriptionItem, items), (ApiKey, keys)):
            for offset in range(0, len(rows), 2000):
                await session.execute(insert(table), rows[offset:offset + 2000])
    return seeded


async def fill_redis(resources, seeded) -> dict[uuid.UUID, int]:  # type: ignore[no-untyped-def]
    """What N items' traffic leaves in Redis between two flushes, moved by workers' tallies."""
    served = {}
    now = time.time()
    for start in range(0, len(seeded), TALLY_CHUNK):
        tally = UsageTally(resources.redis, resources.settings.redis_key_prefix)
        for item_id, key_id, period_start in seeded[start:start + TALLY_CHUNK]:
            units = random.randint(1, 500)
            served[item_id] = units
            tally.add(redis_keys.item_period_field(item_id, period_start), str(key_id), now, units)
        await tally.move_once()
    return served


class DatabaseTime:
    """Wall time spent inside database statements (the engine's cursor executions)."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.seconds, self.statements = 0.0, 0
        self.by_statement: dict[str, float] = {}
        self._started: list[float] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *args) -> None:  # type: ignore[no-untyped-def]
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        took = time.perf_counter() - self._started.pop()
        self.seconds += took
        self.statements += 1
        kind = " ".join(statement.split()[:4])
        self.by_statement[kind] = self.by_statement.get(kind, 0.0) + took

    def slowest(self, count: int = 4) -> str:
        ranked = sorted(self.by_statement.items(), key=lambda kv: -kv[1])[:count]
        return "; ".join(f"{kind}… {seconds:.2f} s" for kind, seconds in ranked)


def stripe_calls() -> dict[tuple[str, str], float]:
    return {
        (sample.labels["operation"], sample.labels["outcome"]): sample.value
        for metric in metrics.STRIPE_CALLS.collect() for sample in metric.samples
        if sample.name.endswith("_total")
    }


@dataclass(frozen=True, slots=True)
class ScaleRun:
    items: int
    seconds: float
    reports_sent: int
    stripe_calls: dict[tuple[str, str], int]
    database_seconds: float
    database_statements: int
    sampled: int
    mismatches: int  # sampled customers whose Stripe meter total differs from the units served
    dropped: int  # events Stripe's asynchronous validation rejected

    @property
    def correct(self) -> bool:
        return not self.mismatches and not self.dropped and self.reports_sent >= self.items


class RedisReadTime:
    """Wall time of the flush's Redis part (`counters.read_changed`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._read = counters.read_changed

    async def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return await self._read(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


async def run(items: int, route: str, rate_limits: str, *, cluster: bool = False) -> ScaleRun:
    port = free_port()
    server = start_stripe_server(port)
    handle = StripeServerHandle(f"http://127.0.0.1:{port}", API_KEY)
    database_name = await infra.create_database("licensing_bench")
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    local_cluster = None
    redis_read = RedisReadTime()
    try:
        url = infra.async_url(database_name)
        await asyncio.to_thread(infra.migrate, url)
        redis_url = infra.TEST_REDIS_URL
        if cluster:
            local_cluster = LocalRedisCluster(Path(tempfile.mkdtemp(prefix="bench-cluster-")))
            local_cluster.start()
            redis_url = local_cluster.url
        settings = load_settings(database_url=url, redis_url=redis_url, redis_key_prefix=prefix,
                                 redis_cluster=cluster, stripe_api_key=API_KEY, stripe_api_base=handle.url,
                                 _env_file=None)
        async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
            assert resources.stripe is not None
            setup_started = time.perf_counter()
            await sync_catalogue(resources, resources.stripe)
            stripe_ids = create_stripe_customers(handle, items)
            seeded = await seed_database(resources, stripe_ids)
            served = await fill_redis(resources, seeded)
            print(f"setup: {items} Stripe customers and local subscriptions in "
                  f"{time.perf_counter() - setup_started:.1f} s (rate limits off for setup only)")

            handle.set_rate_limits(rate_limits)
            reporter = StripeMeterReporter(resources.stripe,
                                           stream_above=STREAM_ABOVE if route == "stream" else items + 1)
            before = stripe_calls()
            database = DatabaseTime(resources.engine)
            shards = redis_keys.SHARDS
            counters.read_changed = redis_read  # type: ignore[assignment]
            started = time.perf_counter()
            try:
                report = await flush_once(resources, reporter)
            finally:
                counters.read_changed = redis_read._read  # type: ignore[assignment]
            elapsed = time.perf_counter() - started
            calls = {k: v - before.get(k, 0) for k, v in stripe_calls().items() if v - before.get(k, 0)}

            async with session_scope(resources.sessionmaker) as session:
                sent = len(list(await session.scalars(
                    select(UsageReport.id).where(UsageReport.state == ReportState.SENT))))
            handle.set_rate_limits("off")
            checked = random.sample(range(items), min(CHECKED_CUSTOMERS, items))
            event_name = resources.catalogue.get(PLAN).meter_event_name  # type: ignore[union-attr]
            mismatches = sum(
                1 for i in checked
                if handle.meter_event_total(event_name, stripe_ids[i]) != served[seeded[i][0]]
            )
            dropped = len(handle.meter_errors())

        total_calls = int(sum(calls.values()))
        where = (f"Redis Cluster (3 masters + 3 replicas, {shards} shards)" if cluster
                 else "one Redis")
        print(f"items: {items}  route: {route}  rate limits: {rate_limits}  counters: {where}")
        print(f"redis part of the flush (take, read{', replicas confirm' if cluster else ''}): "
              f"{redis_read.seconds:.2f} s")
        print(f"flush: {elapsed:.2f} s for {report.taken_units} units in {len(report.sent)} reports "
              f"({sent} marked sent; interval budget 60 s: {'OK' if elapsed < 60 else 'OVER'})")
        print(f"stripe calls: {total_calls} " + " ".join(f"{op}/{outcome}={int(n)}" for (op, outcome), n in sorted(calls.items())))
        print(f"database: {database.seconds:.2f} s in {database.statements} statements "
              f"(ledger reports and watermarks, marking sent); load average {os.getloadavg()}")
        print(f"slowest statements: {database.slowest()}")
        print(f"stripe-side check: {len(checked) - mismatches}/{len(checked)} sampled customers' meter totals "
              f"equal the units served; events dropped by Stripe's validation: {dropped}")
        return ScaleRun(items, elapsed, sent, {k: int(v) for k, v in calls.items()}, database.seconds,
                        database.statements, len(checked), mismatches, dropped)
    finally:
        handle.close()
        server.terminate()
        server.wait(timeout=10)
        await infra.drop_database(database_name)
        if local_cluster is not None:
            local_cluster.stop()
            shutil.rmtree(local_cluster.folder, ignore_errors=True)
        from redis.asyncio import Redis

        redis = Redis.from_url(infra.TEST_REDIS_URL)
        keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--route", choices=["stream", "v1"], default="stream",
                        help="stream: the service's choice above %d events; v1: one call per event" % STREAM_ABOVE)
    parser.add_argument("--rate-limits", choices=["live", "test"], default="live")
    parser.add_argument("--cluster", action="store_true",
                        help="the counters on a local Redis Cluster (3 masters + 3 replicas) of its own")
    args = parser.parse_args()
    result = asyncio.run(run(args.items, args.route, args.rate_limits, cluster=args.cluster))
    sys.exit(0 if result.correct and result.seconds < 60 else 1)


if __name__ == "__main__":
    main()
