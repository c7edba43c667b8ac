"""The local server refuses what Stripe refuses and keeps Stripe's timing: parameters checked
against the SDK's own types, meter errors as thin events, draft cycle invoices during the
finalization grace, idempotency keys that expire, clocks that advance in the background,
events at the endpoint's API version."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from tests.stripe_server.helpers import Receiver, advance_clock, metered_plan, unique
from tests.stripe_server.store import API_VERSION

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def plan(stripe_client):
    return metered_plan(stripe_client)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


REFUSED = {
    "a removed parameter": ("prices", {"recurring": {"interval": "month", "aggregate_usage": "sum"}},
                            "parameter_unknown", "recurring[aggregate_usage]"),
    "an enum value of no enum": ("prices", {"recurring": {"interval": "month", "usage_type": "weird"}},
                                 None, "recurring[usage_type]"),
    "an open enum's unknown value": ("prices", {"tax_behavior": "nonsense"}, None, "tax_behavior"),
    "an empty string that cannot unset": ("prices", {"nickname": ""}, "parameter_invalid_empty", "nickname"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_price_parameters_are_checked_at_every_level(stripe_client, plan, case):
    _, extra, code, param = REFUSED[case]
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v1.prices.create({"currency": "usd", "product": plan["product"].id,
                                        "unit_amount": 100, "recurring": {"interval": "month"}, **extra})
    assert err.value.http_status == 400
    assert (err.value.code, err.value.param) == (code, param)


def test_an_unknown_key_in_a_list_item_is_refused(stripe_client, plan):
    customer = stripe_client.v1.customers.create({})
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v1.subscriptions.create({"customer": customer.id,
                                               "items": [{"price": plan["base"].id, "bogus": "1"}]})
    assert (err.value.code, err.value.param) == ("parameter_unknown", "items[0][bogus]")
    assert "Received unknown parameter: items[0][bogus]" in str(err.value.user_message)


def test_a_required_parameter_is_required(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v1.prices.create({"unit_amount": 100})  # type: ignore[typeddict-item]
    assert (err.value.code, err.value.param) == ("parameter_missing", "currency")


def test_an_identifier_longer_than_100_characters_is_refused(stripe_client, plan):
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v1.billing.meter_events.create({
            "event_name": plan["event_name"], "identifier": "x" * 101,
            "payload": {"stripe_customer_id": "cus_x", "value": "1"}})
    assert (err.value.code, err.value.param) == ("parameter_invalid_string", "identifier")


def test_unknown_fields_of_a_v2_stream_event_are_refused(stripe_client, plan):
    session = stripe_client.v2.billing.meter_event_session.create()
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v2.billing.meter_event_stream.create(
            {"events": [{"event_name": plan["event_name"], "colour": "blue",  # type: ignore[typeddict-unknown-key]
                         "payload": {"stripe_customer_id": "cus_x", "value": "1"}}]},
            {"api_key": session.authentication_token})
    assert err.value.http_status == 400 and "events[0][colour]" in str(err.value.user_message)


def test_meter_errors_arrive_as_thin_events_the_sdk_parses(stripe_server, stripe_client, plan, receiver):
    destination = stripe_client.v2.core.event_destinations.create({
        "name": unique("meters"), "type": "webhook_endpoint", "event_payload": "thin",
        "enabled_events": ["v1.billing.meter.error_report_triggered"],
        "webhook_endpoint": {"url": receiver.url}})
    secret = destination.webhook_endpoint.signing_secret
    identifier = unique("ghost")
    accepted = stripe_client.v1.billing.meter_events.create({  # accepted: checked later
        "event_name": plan["event_name"], "identifier": identifier,
        "payload": {"stripe_customer_id": "cus_doesnotexist", "value": "3"}})
    assert accepted.identifier == identifier

    stripe_server.validate_meter_events()
    stripe_server.deliveries(wait=5)

    [received] = [r for r in receiver.received if r["type"] == "v1.billing.meter.error_report_triggered"]
    notification = stripe_client.parse_event_notification(received["body"], received["signature"], secret)
    assert notification.related_object.id == plan["meter"].id
    event = notification.fetch_event()
    [error_type] = event.data.reason.error_types
    assert error_type.code == "meter_event_customer_not_found" and error_type.error_count == 1
    assert [s.request.identifier for s in error_type.sample_errors] == [identifier]
    stripe_client.v2.core.event_destinations.delete(destination.id)


def test_a_cycle_invoice_stays_a_draft_for_the_grace_and_bills_late_usage(stripe_server, stripe_client, plan):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = stripe_client.v1.customers.create({
        "test_clock": clock.id, "payment_method": "pm_card_visa",
        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": plan["base"].id}, {"price": plan["metered"].id}]})
    end = sub["items"].data[0].current_period_end

    advance_clock(stripe_client, clock.id, end + 600)
    [draft] = [i for i in stripe_client.v1.invoices.list({"subscription": sub.id}).data
               if i.billing_reason == "subscription_cycle"]
    assert draft.status == "draft" and draft.automatically_finalizes_at == end + 3600
    stripe_client.v1.billing.meter_events.create({  # late usage, stamped inside the closed period
        "event_name": plan["event_name"], "timestamp": end - 1,
        "payload": {"stripe_customer_id": customer.id, "value": "3500"}})

    advance_clock(stripe_client, clock.id, end + 3600)
    final = stripe_client.v1.invoices.retrieve(draft.id)
    assert final.status == "paid"
    assert sorted(line.amount for line in final.lines.data) == [250, 10000]  # 2,500 × 0.1 ¢


def test_the_finalization_grace_is_settable_per_test(stripe_server, stripe_client, plan):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = stripe_client.v1.customers.create({"test_clock": clock.id})
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": plan["metered"].id}]})
    end = sub["items"].data[0].current_period_end
    with stripe_server.configured(finalization_grace_seconds=7200):
        advance_clock(stripe_client, clock.id, end + 3700)
    [cycle] = [i for i in stripe_client.v1.invoices.list({"subscription": sub.id}).data
               if i.billing_reason == "subscription_cycle"]
    assert cycle.status == "draft" and cycle.automatically_finalizes_at == end + 7200


def test_a_test_clock_advances_in_the_background(stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    answer = stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": T0 + 3600})
    assert answer.status == "advancing"
    with pytest.raises(stripe.InvalidRequestError):  # one advance at a time
        stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": T0 + 7200})
    for _ in range(500):
        clock = stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id)
        if clock.status == "ready":
            break
        time.sleep(0.01)
    assert (clock.status, clock.frozen_time) == ("ready", T0 + 3600)


def test_idempotency_keys_expire_after_24_hours_of_the_customers_clock(stripe_client, plan):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = stripe_client.v1.customers.create({"test_clock": clock.id})
    params = {"customer": customer.id, "items": [{"price": plan["metered"].id}]}
    key = {"idempotency_key": unique("idem")}
    first = stripe_client.v1.subscriptions.create(params, key)
    assert stripe_client.v1.subscriptions.create(params, key).id == first.id  # replayed

    advance_clock(stripe_client, clock.id, T0 + 25 * 3600)

    assert stripe_client.v1.subscriptions.create(params, key).id != first.id  # a new request


def test_events_are_rendered_at_the_endpoints_api_version(stripe_server, stripe_client, plan, receiver):
    old = stripe_client.v1.webhook_endpoints.create({
        "url": receiver.url, "enabled_events": ["customer.subscription.created"], "api_version": "2024-06-20"})
    current = stripe_client.v1.webhook_endpoints.create({
        "url": receiver.url + "?current", "enabled_events": ["customer.subscription.created"]})
    customer = stripe_client.v1.customers.create({})
    stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": plan["metered"].id}]})
    stripe_server.deliveries(wait=5)
    bodies = [json.loads(r["body"]) for r in receiver.received if r["type"] == "customer.subscription.created"]
    bodies = [b for b in bodies if b["data"]["object"]["customer"] == customer.id]
    by_version = {b["api_version"]: b["data"]["object"] for b in bodies}
    assert set(by_version) == {"2024-06-20", API_VERSION}
    assert by_version["2024-06-20"]["current_period_end"] == by_version[API_VERSION]["items"]["data"][0]["current_period_end"]
    assert "current_period_end" not in by_version[API_VERSION]
    for endpoint in (old, current):
        stripe_client.v1.webhook_endpoints.delete(endpoint.id)
