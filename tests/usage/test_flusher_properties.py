"""Property: whatever the interleaving of served units, flushes, Stripe faults, flushers dying
part-way and Redis losing writes (an older snapshot restored, an empty Redis), once things
settle Stripe has counted every ledger unit once and never more units than were served;
without Redis losing writes, exactly the units served and no regression reported."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from licensing_api.db import session_scope, utcnow
from licensing_api.usage import counters, ledger
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once, new_flush_id
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
    st.tuples(st.just("die_after_read")),
    st.tuples(st.just("die_after_ledger")),
    st.tuples(st.just("fault"), st.sampled_from(range(len(FAULTS))), st.integers(1, 2)),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("restore_snapshot")),
    st.tuples(st.just("empty_redis")),
)


async def snapshot(resources) -> dict[bytes, bytes]:  # type: ignore[no-untyped-def]
    keys = [k async for k in resources.redis.scan_iter(match=resources.settings.redis_key_prefix + "*")]
    return {k: await resources.redis.dump(k) for k in keys}


async def restore(resources, saved: dict[bytes, bytes]) -> None:  # type: ignore[no-untyped-def]
    """Redis restarted from an older persisted state: keys written since then are gone."""
    keys = [k async for k in resources.redis.scan_iter(match=resources.settings.redis_key_prefix + "*")]
    if keys:
        await resources.redis.delete(*keys)
    for key, value in saved.items():
        await resources.redis.restore(key, 0, value, replace=True)


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(actions, min_size=1, max_size=14), route=st.sampled_from(sorted(ROUTES)))
async def test_stripe_counts_each_ledger_unit_once_and_never_more_than_served(
    flush_resources, stripe_server, steps, route
):
    stripe_server.clear_faults()
    items = [await provision(flush_resources) for _ in range(2)]
    reporter = StripeMeterReporter(stripe_server.stripe_client(max_network_retries=0),
                                   stream_above=0 if route == "stream" else 1000)
    prefix = flush_resources.settings.redis_key_prefix
    served, saved, redis_lost_writes = [0, 0], {}, False
    for step in steps:
        if step[0] == "serve":
            await serve(flush_resources, items[step[1]], step[2])
            served[step[1]] += step[2]
        elif step[0] == "flush":
            await flush_once(flush_resources, reporter)
        elif step[0] == "die_after_read":
            await counters.read_changed(flush_resources.redis, prefix)
        elif step[0] == "die_after_ledger":  # in the ledger, its changed marks still in Redis
            read = await counters.read_changed(flush_resources.redis, prefix)
            async with session_scope(flush_resources.sessionmaker) as session:
                await ledger.record_counters(session, read, flush_id=new_flush_id(utcnow()),
                                             billing_enabled=True, now=utcnow())
        elif step[0] == "snapshot":
            saved = await snapshot(flush_resources)
        elif step[0] == "restore_snapshot":
            await restore(flush_resources, saved)
            redis_lost_writes = True
        elif step[0] == "empty_redis":
            await restore(flush_resources, {})
            redis_lost_writes = True
        else:
            kind, params = FAULTS[step[1]]
            stripe_server.inject_fault("POST", ROUTES[route], kind, count=step[2], **params)

    await settle(flush_resources, *items, reporter=reporter)
    stripe_server.clear_faults()

    in_stripe = [units_in_stripe(stripe_server, i) for i in items]
    reports = await reports_of(flush_resources, *items)
    in_ledger = [sum(r.units for r in reports if r.subscription_item_id == i.item_id) for i in items]
    assert {r.state for r in reports} <= {ReportState.SENT}
    assert in_stripe == in_ledger  # every ledger unit reached Stripe exactly once
    assert all(s <= n for s, n in zip(in_stripe, served, strict=True))  # never more than served
    status = await usage_status(flush_resources)
    if not redis_lost_writes:
        assert in_stripe == served
        assert all(status.get(str(i.item_id), {}).get("regressed", 0) == 0 for i in items)
