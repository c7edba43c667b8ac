"""Fault injection as the SDK sees it, and Stripe-like rate limits."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.stripe_server.helpers import metered_plan


@pytest.fixture(autouse=True)
def no_faults_left(stripe_server):
    yield
    stripe_server.clear_faults()


def test_rate_limit_fault_is_a_429_with_retry_after(stripe_server, stripe_client):
    stripe_server.inject_fault("POST", "/v1/customers", "rate_limit", retry_after=2)
    with pytest.raises(stripe.RateLimitError) as err:
        stripe_client.v1.customers.create({})
    assert err.value.http_status == 429 and err.value.headers["Retry-After"] == "2"
    stripe_client.v1.customers.create({})  # count=1: the next one passes


def test_error_fault_is_a_500_and_the_sdk_retries_it(stripe_server, stripe_client):
    stripe_server.inject_fault("GET", "/v1/customers/*", "error")
    cus = stripe_client.v1.customers.create({})
    with pytest.raises(stripe.APIError) as err:
        stripe_client.v1.customers.retrieve(cus.id)
    assert err.value.http_status == 500
    stripe_server.inject_fault("GET", "/v1/customers/*", "error")
    retrying = stripe_server.stripe_client(max_network_retries=2)
    assert retrying.v1.customers.retrieve(cus.id).id == cus.id


def test_delay_fault_slows_the_answer(stripe_server, stripe_client):
    stripe_server.inject_fault("*", "/v1/customers", "delay", seconds=0.3)
    start = time.monotonic()
    stripe_client.v1.customers.create({})
    assert time.monotonic() - start >= 0.3


def test_drop_fault_closes_the_connection(stripe_server, stripe_client):
    stripe_server.inject_fault("POST", "/v1/customers", "drop")
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.customers.create({})


@pytest.mark.parametrize("then, error", [("error", stripe.APIError), ("drop", stripe.APIConnectionError)])
def test_commit_then_fail_keeps_the_meter_event(stripe_server, stripe_client, then, error):
    plan = metered_plan(stripe_client)
    cus = stripe_client.v1.customers.create({})
    params = {"event_name": plan["event_name"], "identifier": f"rep-{then}-{cus.id}",
              "payload": {"stripe_customer_id": cus.id, "value": "7"}}
    stripe_server.inject_fault("POST", "/v1/billing/meter_events", "commit_then_fail", then=then)
    with pytest.raises(error):
        stripe_client.v1.billing.meter_events.create(params)
    assert stripe_server.meter_event_total(plan["meter"].id, cus.id) == 7
    with pytest.raises(stripe.InvalidRequestError):  # a fresh request: duplicate identifier
        stripe_client.v1.billing.meter_events.create(params)
    assert stripe_server.meter_event_total(plan["meter"].id, cus.id) == 7


def test_commit_then_fail_retried_with_same_key_replays_success(stripe_server, stripe_client):
    plan = metered_plan(stripe_client)
    cus = stripe_client.v1.customers.create({})
    stripe_server.inject_fault("POST", "/v1/billing/meter_events", "commit_then_fail")
    retrying = stripe_server.stripe_client(max_network_retries=1)
    event = retrying.v1.billing.meter_events.create({
        "event_name": plan["event_name"], "payload": {"stripe_customer_id": cus.id, "value": "4"}})
    assert event.last_response.headers["Idempotent-Replayed"] == "true"
    assert stripe_server.meter_event_total(plan["meter"].id, cus.id) == 4


def test_rate_limits_answer_429(stripe_server, stripe_client):
    stripe_server.set_rate_limits("live", read=3)
    try:
        with pytest.raises(stripe.RateLimitError) as err:
            for _ in range(10):
                stripe_client.v1.customers.list({"limit": 1})
        assert err.value.json_body["error"]["code"] == "rate_limit"
    finally:
        stripe_server.set_rate_limits("live")
