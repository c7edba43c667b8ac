"""Meter events (v1 and v2 stream) and event summaries, as Stripe validates them: the
identifier and (v1) the timestamp at once, everything else asynchronously."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.stripe_server.helpers import metered_plan, unique


@pytest.fixture
def plan(stripe_client):
    return metered_plan(stripe_client)


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create({"email": "meter@example.com"})


def send(client, plan, customer_id, value, **extra):
    return client.v1.billing.meter_events.create({
        "event_name": plan["event_name"],
        "payload": {"stripe_customer_id": customer_id, "value": str(value)}, **extra})


def test_an_unknown_customer_is_accepted_then_dropped_by_the_asynchronous_validation(
    stripe_server, stripe_client, plan
):
    event = send(stripe_client, plan, "cus_doesnotexist", 1, identifier=unique("ghost"))
    stripe_server.validate_meter_events()
    [dropped] = [e for e in stripe_server.meter_errors() if e["event"].get("identifier") == event.identifier]
    assert dropped["code"] == "meter_event_customer_not_found"


def test_an_unknown_event_name_is_accepted_then_dropped(stripe_server, stripe_client, customer):
    event = stripe_client.v1.billing.meter_events.create({
        "event_name": unique("nothing"), "identifier": unique("none"),
        "payload": {"stripe_customer_id": customer.id}})
    stripe_server.validate_meter_events()
    [dropped] = [e for e in stripe_server.meter_errors() if e["event"].get("identifier") == event.identifier]
    assert dropped["code"] == "no_meter"


def test_duplicate_identifier_is_rejected_and_counted_once(stripe_server, stripe_client, plan, customer):
    ident = unique("report")
    send(stripe_client, plan, customer.id, 5, identifier=ident)
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(stripe_client, plan, customer.id, 5, identifier=ident)
    assert f"An event already exists with identifier {ident}" in str(err.value.user_message)
    assert err.value.headers["Stripe-Should-Retry"] == "false"
    assert err.value.param is None  # as other integrations saw it: match on the message
    assert stripe_server.meter_event_total(plan["meter"].id, customer.id) == 5


def test_timestamp_older_than_35_days_is_rejected(stripe_client, plan, customer):
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(stripe_client, plan, customer.id, 1, timestamp=int(time.time()) - 36 * 86400)
    assert err.value.param == "timestamp"
    assert "cannot be more than 35 days in past" in str(err.value.user_message)


def test_timestamp_more_than_5_minutes_ahead_is_rejected(stripe_client, plan, customer):
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(stripe_client, plan, customer.id, 1, timestamp=int(time.time()) + 600)
    assert err.value.code == "timestamp_in_future"


def test_timestamp_window_follows_the_customers_test_clock(stripe_client, plan):
    frozen = int(time.time()) - 100 * 86400
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": frozen})
    cus = stripe_client.v1.customers.create({"test_clock": clock.id})
    event = send(stripe_client, plan, cus.id, 1, timestamp=frozen - 86400)
    assert event.timestamp == frozen - 86400
    with pytest.raises(stripe.InvalidRequestError):
        send(stripe_client, plan, cus.id, 1, timestamp=int(time.time()))


def test_v2_session_and_stream_are_accepted_and_counted(stripe_server, stripe_client, plan, customer):
    session = stripe_client.v2.billing.meter_event_session.create()
    assert session.authentication_token and session.expires_at
    events = [{"event_name": plan["event_name"], "identifier": unique("s"),
               "payload": {"stripe_customer_id": customer.id, "value": "10"}} for _ in range(100)]
    stripe_client.v2.billing.meter_event_stream.create(
        {"events": events}, {"api_key": session.authentication_token})
    stripe_client.v2.billing.meter_event_stream.create(  # the same identifiers again: dropped
        {"events": events[:3]}, {"api_key": session.authentication_token})
    assert stripe_server.meter_event_total(plan["event_name"], customer.id) == 1000
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v2.billing.meter_event_stream.create(
            {"events": events + events[:1]}, {"api_key": session.authentication_token})


def test_v2_stream_rejects_an_unknown_session_token(stripe_client, plan, customer):
    with pytest.raises(stripe.TemporarySessionExpiredError):
        stripe_client.v2.billing.meter_event_stream.create(
            {"events": [{"event_name": plan["event_name"],
                         "payload": {"stripe_customer_id": customer.id, "value": "1"}}]},
            {"api_key": "mes_tok_expired"})


def test_event_summaries_sum_values_in_the_window(stripe_server, stripe_client, plan, customer):
    now = int(time.time())
    hour = now - now % 3600
    send(stripe_client, plan, customer.id, 3, timestamp=hour - 10)
    send(stripe_client, plan, customer.id, 4, timestamp=hour + 1)
    send(stripe_client, plan, customer.id, 5, timestamp=min(hour + 2, now))
    stripe_server.validate_meter_events()  # summaries lag behind validation, as on Stripe
    whole = stripe_client.v1.billing.meters.event_summaries.list(
        plan["meter"].id, {"customer": customer.id, "start_time": hour - 3600,
                           "end_time": hour + 3600})
    assert [s.aggregated_value for s in whole.data] == [12]
    hourly = stripe_client.v1.billing.meters.event_summaries.list(
        plan["meter"].id, {"customer": customer.id, "start_time": hour - 3600,
                           "end_time": hour + 3600, "value_grouping_window": "hour"})
    assert [(s.start_time, s.aggregated_value) for s in hourly.data] == [(hour, 9), (hour - 3600, 3)]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing.meters.event_summaries.list(
            plan["meter"].id, {"customer": customer.id, "start_time": hour + 7, "end_time": hour + 3600})


async def test_async_meter_events(stripe_server, plan, customer):
    client = stripe_server.stripe_client()
    await client.v1.billing.meter_events.create_async({
        "event_name": plan["event_name"],
        "payload": {"stripe_customer_id": customer.id, "value": "2"}})
    session = await client.v2.billing.meter_event_session.create_async()
    await client.v2.billing.meter_event_stream.create_async(
        {"events": [{"event_name": plan["event_name"],
                     "payload": {"stripe_customer_id": customer.id, "value": "3"}}]},
        {"api_key": session.authentication_token})
    assert stripe_server.meter_event_total(plan["meter"].id, customer.id) == 5
