"""Load test: 4 workers, keys revoked and webhooks arriving under load; every 200 metered once.

    .venv/bin/python bench/load.py [--workers 4] [--duration 20] [--connections 6]

A fresh deployment (bench/harness.py: PostgreSQL, Redis, `licensing-api serve --workers N`).
Keep-alive connections per crawler key request `/v1/content/{item}` in a closed loop until
the deadline (a request in flight at the deadline is awaited, so every response the server
sent is counted). During the load:

- 25 %: `invoice.payment_failed` for customer D (past_due: still served during grace)
- 40 %: key C revoked through `POST /admin/keys/{id}/revoke` (403 from then on)
- 50 %: `customer.subscription.deleted` for customer E (revoked: 403 from then on)
- 60 %: `invoice.paid` for D (active again) and a duplicate delivery of the 25 % event
- all along: one connection with an unknown key from 127.0.0.2 (401, then 429 from the
  failed-lookup limiter, which blocks that address only)

Then SIGTERM (in-flight requests finish, tallies move to Redis) and the checks: per key,
the 200s the load generator counted equal the units in Redis's period totals, exactly; the
ledger plus what is still pending equals the same total; no status other than the intended
ones. Prints the figures and PASS or FAIL (exit 1). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ADMIN_TOKEN, WEBHOOK_SECRET, Customer, Deployment  # noqa: E402
from bench.loadgen import read_response  # noqa: E402
from licensing_api.billing.plans import load_catalogue  # noqa: E402
from licensing_api.resources import open_resources  # noqa: E402
from licensing_api.usage.models import UsageReport  # noqa: E402

ITEMS = ["sourdough-chemistry", "urban-beekeeping", "science/tide-pools", "caring-for-cast-iron"]
UNKNOWN_KEY = "lk_" + "x" * 43


class KeyStats:
    def __init__(self, name: str, allowed: set[int]) -> None:
        self.name = name
        self.allowed = allowed
        self.statuses: Counter[int] = Counter()
        self.transport_errors = 0
        self.last_200_at = 0.0


async def crawl(port: int, secret: str, deadline: float, stats: KeyStats, offset: int,
                source: str = "127.0.0.1") -> None:
    """One keep-alive connection in a closed loop; reconnects if the server closes it."""
    n = offset
    clock = time.monotonic
    while clock() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            stats.transport_errors += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while clock() < deadline:
                path = f"/v1/content/{ITEMS[n % len(ITEMS)]}"
                n += 1
                writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {secret}\r\n\r\n".encode())
                status, lowered = await read_response(reader)
                stats.statuses[status] += 1
                if status == 200:
                    stats.last_200_at = clock()
                if b"connection: close" in lowered:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            stats.transport_errors += 1
        finally:
            writer.close()


def signed(event: dict) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}


def event(event_type: str, obj: dict, created: int) -> dict:
    return {"id": f"evt_bench_{uuid.uuid4().hex[:16]}", "object": "event", "type": event_type,
            "created": created, "livemode": False, "api_version": "2025-03-31.basil",
            "data": {"object": obj}}


async def scenario(deployment: Deployment, customers: dict[str, Customer], duration: float,
                   outcomes: list[str], revoked_at: dict[str, float]) -> None:
    """The revocation and webhooks, at fixed fractions of the run."""
    d, e = customers["D"], customers["E"]
    now = int(time.time())
    failed = event("invoice.payment_failed", {
        "id": f"in_bench_{uuid.uuid4().hex[:8]}", "object": "invoice", "customer": d.stripe_customer_id,
        "status": "open", "created": now}, now)
    deleted = event("customer.subscription.deleted", {
        "id": e.stripe_subscription_id, "object": "subscription", "customer": e.stripe_customer_id,
        "status": "canceled"}, now + 1)
    paid = event("invoice.paid", {
        "id": f"in_bench_{uuid.uuid4().hex[:8]}", "object": "invoice", "customer": d.stripe_customer_id,
        "status": "paid", "created": now + 2}, now + 2)
    start = time.monotonic()

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, start + fraction * duration - time.monotonic()))

    async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as http:
        async def deliver(evt: dict, label: str) -> None:
            body, headers = signed(evt)
            response = await http.post("/webhooks/stripe", content=body, headers=headers)
            outcome = response.json().get("outcome") if response.status_code == 200 else response.text[:200]
            outcomes.append(f"{label}: {response.status_code} {outcome}")

        await at(0.25)
        await deliver(failed, "invoice.payment_failed (D)")
        await at(0.40)
        response = await http.post(f"/admin/keys/{customers['C'].key_id}/revoke",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        revoked_at["C"] = time.monotonic()
        outcomes.append(f"admin revoke key C: {response.status_code} {response.json().get('status')}")
        await at(0.50)
        await deliver(deleted, "customer.subscription.deleted (E)")
        revoked_at["E"] = time.monotonic()
        await at(0.60)
        await deliver(paid, "invoice.paid (D)")
        await deliver(failed, "invoice.payment_failed (D) redelivered")


async def ledger_and_pending(deployment: Deployment, item_id: uuid.UUID) -> tuple[int, int]:
    settings = deployment.settings
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        async with resources.sessionmaker() as session:
            ledger = await session.scalar(
                select(func.coalesce(func.sum(UsageReport.units), 0))
                .where(UsageReport.subscription_item_id == item_id)
            )
    # Redis's counter only grows; what the ledger does not hold yet is the part above it.
    in_redis = await deployment.period_units(item_id) - int(ledger or 0)
    return int(ledger or 0), in_redis


async def main(args: argparse.Namespace) -> int:
    deployment = Deployment(Path(tempfile.mkdtemp(prefix="licensing-load-")))
    await deployment.create()
    try:
        made = await deployment.provision(5, with_stripe_ids=True)
        customers = dict(zip("ABCDE", made, strict=True))
        deployment.start(args.workers, USAGE_FLUSH_INTERVAL_SECONDS="2", ACCESS_LOG="false")
        await deployment.wait_ready()
        allowed = {"A": {200}, "B": {200}, "C": {200, 403}, "D": {200}, "E": {200, 403}}
        stats = {name: KeyStats(name, allowed[name]) for name in customers}
        unknown = KeyStats("unknown key", {401, 429})
        outcomes: list[str] = []
        revoked_at: dict[str, float] = {}
        started = time.monotonic()
        deadline = started + args.duration
        await asyncio.gather(
            *(crawl(deployment.port, customers[name].secret, deadline, stats[name], n)
              for name in customers for n in range(args.connections)),
            # From another loopback address: the failed-lookup limiter blocks the address that
            # guesses keys (its uncached lookups), not the crawlers behind other addresses.
            crawl(deployment.port, UNKNOWN_KEY, deadline, unknown, 0, source="127.0.0.2"),
            scenario(deployment, customers, args.duration, outcomes, revoked_at),
        )
        elapsed = time.monotonic() - started
        exit_status = await asyncio.to_thread(deployment.stop)

        failures = []
        total = sum(sum(s.statuses.values()) for s in [*stats.values(), unknown])
        print(f"workers={args.workers} duration={elapsed:.1f}s connections={args.connections * 5 + 1} "
              f"requests={total} ({total / elapsed:.0f} req/s)  serve exit status={exit_status}")
        for line in outcomes:
            print("  " + line)
            if " 200 " not in line and "revoke" not in line:
                failures.append(f"webhook not acknowledged: {line}")
        for name, key_stats in [*stats.items(), ("?", unknown)]:
            extra = set(key_stats.statuses) - key_stats.allowed
            print(f"  key {key_stats.name}: statuses {dict(sorted(key_stats.statuses.items()))}"
                  f" transport errors {key_stats.transport_errors}")
            if extra:
                failures.append(f"key {key_stats.name}: unintended statuses {sorted(extra)}")
            if key_stats.transport_errors:
                failures.append(f"key {key_stats.name}: {key_stats.transport_errors} transport errors")
        for name in ("C", "E"):
            # A slow machine may revoke too close to the end for a refusal to be seen.
            seen_long_enough = name in revoked_at and revoked_at[name] < deadline - 1.0
            if seen_long_enough and stats[name].statuses[403] == 0:
                failures.append(f"key {name}: never refused after revocation")
            if name in revoked_at:
                lag_ms = max(0.0, stats[name].last_200_at - revoked_at[name]) * 1000
                print(f"  key {name}: last 200 came {lag_ms:.0f} ms after the revocation was acknowledged")
        for name, customer in customers.items():
            served = stats[name].statuses[200]
            metered = await deployment.period_units(customer.item_id)
            ledger, pending = await ledger_and_pending(deployment, customer.item_id)
            print(f"  customer {name}: 200s counted {served}, metered in Redis {metered}, "
                  f"ledger {ledger} + still pending {pending}")
            if served != metered:
                failures.append(f"customer {name}: {served} 200s but {metered} units metered")
            if pending < 0:
                failures.append(f"customer {name}: ledger {ledger} holds more than metered {metered}")
        if exit_status not in (0,):
            failures.append(f"serve exited with {exit_status} after SIGTERM")
        print("PASS" if not failures else "FAIL:\n  " + "\n  ".join(failures))
        return 0 if not failures else 1
    finally:
        await deployment.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=6, help="per crawler key")
    sys.exit(asyncio.run(main(parser.parse_args())))
