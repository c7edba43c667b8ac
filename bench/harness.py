"""What bench/load.py and bench/scale_workers.py share: a throw-away deployment.

A fresh PostgreSQL database (migrated) and Redis key prefix, a plan catalogue whose limits
do not get in the way, customers with keys, and `licensing-api serve --workers N` as a real
subprocess on a free loopback port, stopped with SIGTERM like an orchestrator does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from licensing_api.billing.plans import load_catalogue  # noqa: E402
from licensing_api.billing.provisioning import provision_local_customer  # noqa: E402
from licensing_api.db import session_scope  # noqa: E402
from licensing_api.db_cli import upgrade_database  # noqa: E402
from licensing_api.resources import open_resources  # noqa: E402
from licensing_api.settings import load_settings  # noqa: E402

ADMIN_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
WEBHOOK_SECRET = "whsec_benchsecret0123456789abcdefgh"
SESSION_SECRET = "bench-session-secret-0123456789abcdefghijkl"
PLANS = """
[plans.bench]
name = "Benchmark"
kind = "hybrid"
currency = "usd"
base_amount = 100
included_units = 1000
unit_amount_decimal = "0.1"
rate_limit_per_second = 1000000
"""
SERVE_STOP_SECONDS = 60


@dataclass
class Customer:
    id: uuid.UUID
    item_id: uuid.UUID
    key_id: uuid.UUID
    secret: str
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Deployment:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db_name = f"licensing_bench_{uuid.uuid4().hex[:8]}"
        base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        self.database_url = f"{base}/{self.db_name}"
        self.redis_prefix = f"bench:{uuid.uuid4().hex[:8]}:"
        self.plans_file = workdir / "plans.toml"
        self.plans_file.write_text(PLANS)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return load_settings(
            database_url=self.database_url, redis_url=REDIS_URL, redis_key_prefix=self.redis_prefix,
            plans_file=self.plans_file, _env_file=None,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def create(self) -> None:
        connection = await asyncpg.connect(ADMIN_DSN)
        try:
            await connection.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await connection.close()
        await asyncio.to_thread(upgrade_database, self.database_url)

    async def destroy(self) -> None:
        """Kill the server if it still runs, drop the database and the Redis keys."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        connection = await asyncpg.connect(ADMIN_DSN)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            await connection.close()
        redis = Redis.from_url(REDIS_URL)
        async for key in redis.scan_iter(match=self.redis_prefix + "*", count=1000):
            await redis.delete(key)
        await redis.aclose()

    async def provision(self, count: int, *, with_stripe_ids: bool = False) -> list[Customer]:
        settings = self.settings
        catalogue = load_catalogue(settings.plans_file)
        customers = []
        async with open_resources(settings, catalogue) as resources:
            for n in range(count):
                async with session_scope(resources.sessionmaker) as session:
                    made = await provision_local_customer(
                        session, f"bench-{n}-{uuid.uuid4().hex[:6]}@example.com", catalogue.get("bench")
                    )
                    customer = Customer(made.customer.id, made.usage_item.id, made.first_key.key.id,
                                        made.first_key.secret)
                    if with_stripe_ids:
                        customer.stripe_customer_id = f"cus_bench{n}{uuid.uuid4().hex[:8]}"
                        customer.stripe_subscription_id = f"sub_bench{n}{uuid.uuid4().hex[:8]}"
                        made.customer.stripe_customer_id = customer.stripe_customer_id
                        made.subscription.stripe_subscription_id = customer.stripe_subscription_id
                customers.append(customer)
        return customers

    def start(self, workers: int, **extra_env: str) -> None:
        self.port = free_port()
        self.process = self.launch(workers, self.port, **extra_env)

    def launch(self, workers: int, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
        """`licensing-api serve --workers N` on `port` (several may run at once)."""
        env = {
            "PATH": os.environ["PATH"], "HOME": str(self.workdir),
            "DATABASE_URL": self.database_url, "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": self.redis_prefix, "PLANS_FILE": str(self.plans_file),
            "ADMIN_TOKEN": ADMIN_TOKEN, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SESSION_SECRET": SESSION_SECRET, "PORT": str(port), "LOG_LEVEL": "warning",
            **extra_env,
        }
        log = (self.workdir / f"serve-{workers}w-{port}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "licensing_api.cli", "serve", "--no-migrate", "--workers", str(workers)],
            cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise SystemExit(f"serve exited during start-up; see {self.workdir}")
                try:
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise SystemExit(f"serve did not answer within {timeout} s; see {self.workdir}")

    def stop(self) -> int:
        """SIGTERM and wait: in-flight requests finish, tallies move to Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SERVE_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise SystemExit(f"serve did not stop within {SERVE_STOP_SECONDS} s of SIGTERM")

    async def period_units(self, item_id: uuid.UUID) -> int:
        """The item's units in Redis: its grow-only period counters (usage/redis_keys.py)."""
        from licensing_api.usage.redis_keys import period_totals, shard_of

        redis = Redis.from_url(REDIS_URL)
        try:
            totals = await redis.hgetall(self.redis_prefix + period_totals(shard_of(item_id)))
        finally:
            await redis.aclose()
        return sum(int(v) for k, v in totals.items() if k.decode().startswith(f"{item_id}:"))
