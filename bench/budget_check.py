"""Micro-benchmark: what the budget's hard stop adds to `Enforcement.enforce` per request.

    .venv/bin/python -m bench.budget_check [--calls 1000000]

Times `enforce` for one cached record without a budget, and with a hard stop not reached
(the per-request case: one tally read and an int compare), on the bundled `standard` plan
(rate limit off, so only the checks themselves are timed). Prints ns per call; no I/O.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis

from licensing_api.access.enforce import Enforcement
from licensing_api.access.ratelimit import KeyRateLimiter
from licensing_api.access.records import AccessRecord, _usage_target
from licensing_api.billing.models import SubscriptionItem
from licensing_api.billing.plans import load_catalogue
from licensing_api.budgets.spend import spend_stop
from licensing_api.settings import BUNDLED_PLANS_FILE
from licensing_api.usage.tally import UsageTally


ROUNDS = 50


def records() -> tuple[AccessRecord, AccessRecord]:
    plan = dataclasses.replace(load_catalogue(BUNDLED_PLANS_FILE).get("standard"), rate_limit_per_second=None)
    start, end = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC)
    item = SubscriptionItem(id=uuid.uuid4(), current_period_start=start, current_period_end=end)
    target = _usage_target(item, plan)
    plain = AccessRecord(digest="d", key_id=uuid.uuid4(), key_id_text="k", key_revoked=False,
                         customer_id=uuid.uuid4(), account_state="active", grace_until_epoch=None,
                         target=target, bot_key=None)
    return plain, dataclasses.replace(plain, spend_stop=spend_stop(plan, 15_000, hard_stop=True))


def ns_per_call(enforcement: Enforcement, record: AccessRecord, calls: int) -> float:
    enforce, now = enforcement.enforce, 1_930_000_000.0
    started = time.perf_counter_ns()
    for _ in range(calls):
        enforce(record, now, 1)
    return (time.perf_counter_ns() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    calls = parser.parse_args().calls
    tally = UsageTally(Redis(), "bench:")
    enforcement = Enforcement(tally, KeyRateLimiter(), "https://example.invalid/dashboard")
    plain, budgeted = records()
    tally.add(plain.target.period_field, "k", 1_930_000_000.0, 40_000)  # type: ignore[union-attr]
    cases = (("no budget", plain), ("hard stop, not reached", budgeted))
    best = {name: float("inf") for name, _ in cases}
    for _ in range(ROUNDS):  # interleaved, so a busy moment of the machine hits both alike
        for name, record in cases:
            best[name] = min(best[name], ns_per_call(enforcement, record, calls))
    for name, ns in best.items():
        print(f"{name:<24} {ns:7.1f} ns per enforce() (best of {ROUNDS} × {calls:,}, interleaved)")


if __name__ == "__main__":
    main()
