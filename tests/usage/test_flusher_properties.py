"""Property: whatever the interleaving of served units, flushes, Stripe faults and flushers
dying after the Redis take, once things settle Stripe has counted every served unit once."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from licensing_api.db import session_scope, utcnow
from licensing_api.usage import ledger
from licensing_api.usage.flusher import flush_once, take_pending
from licensing_api.usage.models import ReportState
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.usage.flusher_support import (
    provision,
    reports_of,
    serve,
    settle,
    units_in_stripe,
)


ROUTES = {"v1": "/v1/billing/meter_events", "stream": "/v2/billing/meter_event_stream"}
FAULTS = [("error", {}), ("rate_limit", {"retry_after": 0}), ("commit_then_fail", {"then": "error"}),
          ("commit_then_fail", {"then": "drop"})]

actions = st.one_of(
    st.tuples(st.just("serve"), st.integers(0, 1), st.integers(1, 50)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("die_after_take")),
    st.tuples(st.just("die_after_ledger")),
    st.tuples(st.just("fault"), st.sampled_from(range(len(FAULTS))), st.integers(1, 2)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(actions, min_size=1, max_size=12), route=st.sampled_from(sorted(ROUTES)))
async def test_stripe_counts_every_served_unit_exactly_once(flush_resources, stripe_server, steps, route):
    stripe_server.clear_faults()
    items = [await provision(flush_resources) for _ in range(2)]
    reporter = StripeMeterReporter(stripe_server.stripe_client(max_network_retries=0),
                                   stream_above=0 if route == "stream" else 1000)
    served = [0, 0]
    for step in steps:
        if step[0] == "serve":
            await serve(flush_resources, items[step[1]], step[2])
            served[step[1]] += step[2]
        elif step[0] == "flush":
            await flush_once(flush_resources, reporter)
        elif step[0] == "die_after_take":
            await take_pending(flush_resources)
        elif step[0] == "die_after_ledger":  # the batch is in the ledger, its keys still in Redis
            batch = await take_pending(flush_resources)
            if batch is not None:
                async with session_scope(flush_resources.sessionmaker) as session:
                    await ledger.record_batch(session, batch, billing_enabled=True, now=utcnow())
        else:
            kind, params = FAULTS[step[1]]
            stripe_server.inject_fault("POST", ROUTES[route], kind, count=step[2], **params)

    await settle(flush_resources, *items, reporter=reporter)
    stripe_server.clear_faults()

    assert [units_in_stripe(stripe_server, i) for i in items] == served
    assert {r.state for r in await reports_of(flush_resources, *items)} <= {ReportState.SENT}
