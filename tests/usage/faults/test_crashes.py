"""A flusher process SIGKILLed at any step loses no unit and doubles none.

`USAGE_FLUSH_CRASH_AT` (test-only) makes `licensing-api usage flush` kill itself at the named
step; the next flush (another process) must finish the job with Stripe counting each unit once.
"""

from __future__ import annotations

import signal

import pytest

from licensing_api.usage import counters
from licensing_api.usage.models import ReportState
from tests.usage.faults.processes import run_cli
from tests.usage.flusher_support import (
    provision,
    reports_of,
    serve,
    units_in_stripe,
)


@pytest.mark.parametrize("step", ["after_take", "after_ledger", "after_send"])
async def test_a_flusher_killed_mid_flush_loses_and_doubles_nothing(
    step, flush_resources, flush_settings, stripe_server, tmp_path
):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 8)

    crashed = await run_cli(flush_settings, tmp_path, "usage", "flush", USAGE_FLUSH_CRASH_AT=step)

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    marked = await counters.changed_count(flush_resources.redis, flush_resources.settings.redis_key_prefix)
    assert marked == (0 if step == "after_send" else 2)  # period and key-day counters, unreleased
    assert units_in_stripe(stripe_server, item) == (8 if step == "after_send" else 0)
    assert len(await reports_of(flush_resources, item)) == (0 if step == "after_take" else 1)

    await serve(flush_resources, item, 3)
    finished = await run_cli(flush_settings, tmp_path, "usage", "flush")

    assert finished.returncode == 0, finished.stderr
    assert "reported 11 units" in finished.stdout
    assert ("already recorded by Stripe" in finished.stdout) == (step == "after_send")
    assert units_in_stripe(stripe_server, item) == 11
    reports = await reports_of(flush_resources, item)
    assert sum(r.units for r in reports) == 11
    assert {r.state for r in reports} == {ReportState.SENT}
