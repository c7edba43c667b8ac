"""Stripe failing (500, 429, recorded-then-timed-out) never loses or doubles a unit.

Units are counted by the Stripe server; each test serves known units to fresh customers,
injects faults at the network boundary, flushes until settled and compares.
"""

from __future__ import annotations

import pytest

from licensing_api.usage.models import ReportState
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.usage.flusher_support import (
    provision,
    reports_of,
    serve,
    settle,
    units_in_stripe,
)


V1 = "/v1/billing/meter_events"
STREAM = "/v2/billing/meter_event_stream"
FAULTS = {
    "500": ("error", {}),
    "429": ("rate_limit", {"retry_after": 0}),
    "recorded then 500": ("commit_then_fail", {"then": "error"}),
    "recorded then connection dropped": ("commit_then_fail", {"then": "drop"}),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("route", ["v1", "stream"])
async def test_each_unit_reaches_stripe_once_despite(route, fault, flush_resources, stripe_server):
    items = [await provision(flush_resources) for _ in range(3)]
    for units, item in zip((5, 6, 7), items, strict=True):
        await serve(flush_resources, item, units)
    kind, params = FAULTS[fault]
    stripe_server.inject_fault("POST", V1 if route == "v1" else STREAM, kind, count=2, **params)
    # No SDK-level retries: every fault reaches the flusher's own retry and dedup logic.
    reporter = StripeMeterReporter(stripe_server.stripe_client(max_network_retries=0),
                                   stream_above=0 if route == "stream" else 1000)

    await settle(flush_resources, *items, reporter=reporter)

    assert [units_in_stripe(stripe_server, i) for i in items] == [5, 6, 7]
    reports = await reports_of(flush_resources, *items)
    assert {r.state for r in reports} == {ReportState.SENT}
    assert max(r.attempts for r in reports) >= 2  # the faults were felt


async def test_a_resend_of_a_recorded_event_is_acknowledged_as_a_duplicate(flush_resources, stripe_server):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 9)
    stripe_server.inject_fault("POST", V1, "commit_then_fail", count=1, then="drop")
    reporter = StripeMeterReporter(stripe_server.stripe_client(max_network_retries=0))

    await settle(flush_resources, item, reporter=reporter)

    [report] = await reports_of(flush_resources, item)
    assert report.stripe_response == {"via": "v1", "duplicate": True}
    assert units_in_stripe(stripe_server, item) == 9


async def test_the_services_own_client_absorbs_a_burst_of_500s(flush_resources, stripe_server):
    items = [await provision(flush_resources) for _ in range(4)]
    for item in items:
        await serve(flush_resources, item, 3)
    stripe_server.inject_fault("POST", V1, "error", count=5)

    await settle(flush_resources, *items)

    assert [units_in_stripe(stripe_server, i) for i in items] == [3, 3, 3, 3]
