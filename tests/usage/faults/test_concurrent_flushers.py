"""Two flushers started at once: one holds the lock; and even without it, no unit doubles."""

from __future__ import annotations

import asyncio

from licensing_api.usage.flusher import flush_once
from licensing_api.usage.flusher_task import UsageFlusherTask
from licensing_api.usage.models import ReportState
from tests.usage.faults.processes import finish, start_cli
from tests.usage.flusher_support import (
    opened,
    provision,
    reports_of,
    serve,
    settle,
    units_in_stripe,
)


async def test_only_one_of_two_workers_flushes(flush_resources, flush_settings):
    async with opened(flush_settings, sync=False) as other_worker:
        first, second = UsageFlusherTask(flush_resources), UsageFlusherTask(other_worker)

        flushed = await asyncio.gather(first.tick(), second.tick())
        assert sorted(flushed) == [False, True]

        leader, follower = (first, second) if flushed[0] else (second, first)
        await leader.lock.release()
        assert await follower.tick() is True
        await follower.lock.release()


async def test_two_flush_commands_started_at_once_report_each_unit_once(
    flush_resources, flush_settings, stripe_server, tmp_path
):
    items = [await provision(flush_resources) for _ in range(4)]
    for units, item in enumerate(items, start=1):
        await serve(flush_resources, item, units)

    processes = [await start_cli(flush_settings, tmp_path, "usage", "flush") for _ in range(2)]
    finished = [await finish(p) for p in processes]

    assert [f.returncode for f in finished] == [0, 0], [f.stderr for f in finished]
    assert [units_in_stripe(stripe_server, i) for i in items] == [1, 2, 3, 4]


async def test_lockless_flushers_racing_with_traffic_report_each_unit_once(
    flush_resources, flush_settings, stripe_server
):
    items = [await provision(flush_resources) for _ in range(3)]
    served = dict.fromkeys(range(3), 0)
    async with opened(flush_settings, sync=False) as a, opened(flush_settings, sync=False) as b:

        async def traffic() -> None:
            for n in range(60):
                await serve(a, items[n % 3], 1 + n % 4)
                served[n % 3] += 1 + n % 4
                await asyncio.sleep(0)

        async def flushing(resources) -> None:  # type: ignore[no-untyped-def]
            for _ in range(8):
                await flush_once(resources)

        await asyncio.gather(traffic(), flushing(a), flushing(b))
        await settle(a, *items)

    assert [units_in_stripe(stripe_server, i) for i in items] == [served[0], served[1], served[2]]
    assert {r.state for r in await reports_of(flush_resources, *items)} == {ReportState.SENT}
