"""The scale benchmark's own run, small: one flush of many items through the v2 stream with
Stripe's live rate limits, the ledger written in bulk, Stripe's totals equal to the units
served (no timing here: the 100,000-item run and its figures belong to bench/)."""

from __future__ import annotations

from bench.flush_scale import run


async def test_one_flush_of_many_items_reaches_stripe_whole():
    result = await run(1500, "stream", "live")

    assert result.correct, result
    assert result.reports_sent == 1500
    assert result.stripe_calls == {("meter_event_session", "ok"): 1, ("meter_event_stream", "ok"): 15}
    assert result.database_statements < 40  # bulk statements, not one per item
