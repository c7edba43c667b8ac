"""`licensing-api usage flush|status` as an operator reads them (real processes)."""

from __future__ import annotations

import re

from licensing_api.usage.flusher import flush_once
from tests.usage.faults.processes import run_cli
from tests.usage.flusher_support import provision, serve

V1 = "/v1/billing/meter_events"


async def test_flush_lists_each_report_waiting_out_its_backoff_with_its_next_attempt(
    flush_resources, flush_settings, stripe_server, tmp_path
):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 7)
    stripe_server.inject_fault("POST", V1, "error", count=10)  # 500s: kept pending, retried later

    result = await run_cli(flush_settings, tmp_path, "usage", "flush", USAGE_FLUSH_INTERVAL_SECONDS="60")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    waiting = [line for line in lines if line.startswith("waiting ur_")]
    assert len(waiting) == 1, result.stdout
    assert re.fullmatch(
        r"waiting ur_\S+ 7 units: attempt 2 at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(last error: .+\)",
        waiting[0],
    ), waiting[0]
    assert "None" not in result.stdout
    assert lines[-1].endswith("reported 0 units in 0 reports, 0 failed, 1 waiting to retry (7 units)")

    stripe_server.clear_faults()
    again = await run_cli(flush_settings, tmp_path, "usage", "flush")  # not due yet: still waiting
    assert again.stdout.splitlines()[-1].endswith("1 waiting to retry (7 units)"), again.stdout


async def test_status_names_the_customer_of_each_item(flush_resources, flush_settings, tmp_path):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 3)
    await flush_once(flush_resources)

    result = await run_cli(flush_settings, tmp_path, "usage", "status")

    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(str(item.item_id)))
    assert row.split()[-1].endswith("@example.com"), row
    assert "None" not in result.stdout
