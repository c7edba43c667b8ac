"""Webhook delivery: Stripe signatures, retries, redelivery, chosen order."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.stripe_server.helpers import Receiver
from tests.stripe_server.signing import sign_payload


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def endpoint(stripe_client, receiver):
    ep = stripe_client.v1.webhook_endpoints.create(
        {"url": receiver.url, "enabled_events": ["customer.created", "customer.updated"]})
    yield ep
    stripe_client.v1.webhook_endpoints.delete(ep.id)


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_sign_payload_matches_the_sdk_verifier():
    header = sign_payload(b'{"id": "evt_1", "object": "event"}', "whsec_x")
    event = stripe.Webhook.construct_event(b'{"id": "evt_1", "object": "event"}', header, "whsec_x")
    assert event.id == "evt_1"


def test_events_are_delivered_signed_with_the_endpoint_secret(stripe_client, receiver, endpoint):
    assert endpoint.secret.startswith("whsec_")
    cus = stripe_client.v1.customers.create({"email": "hook@example.com"})
    _wait_for(lambda: receiver.received)
    got = receiver.received[0]
    event = stripe.Webhook.construct_event(got["body"], got["signature"], endpoint.secret)
    assert event.type == "customer.created" and event.data.object.id == cus.id
    assert "secret" not in stripe_client.v1.webhook_endpoints.retrieve(endpoint.id)


def test_non_2xx_is_retried_with_backoff(stripe_server, stripe_client, receiver, endpoint):
    receiver.statuses = [500, 503]
    stripe_client.v1.customers.create({})
    _wait_for(lambda: len(receiver.received) == 3)
    mine = [d for d in stripe_server.deliveries(wait=2) if d["endpoint_id"] == endpoint.id]
    assert [d["status"] for d in mine] == [500, 503, 200]
    assert [d["attempt"] for d in mine] == [1, 2, 3]


def test_redeliver_and_deliver_in_chosen_order(stripe_server, stripe_client, receiver, endpoint):
    cus = stripe_client.v1.customers.create({})
    stripe_client.v1.customers.update(cus.id, {"name": "Renamed"})
    _wait_for(lambda: len(receiver.received) == 2)
    events = stripe_client.v1.events.list({"limit": 2}).data  # newest first
    stripe_server.redeliver(events[0].id)
    _wait_for(lambda: len(receiver.received) == 3)
    results = stripe_server.deliver_events(receiver.url, [events[0].id, events[1].id])
    assert all(r["ok"] for r in results)
    assert [r["type"] for r in receiver.received[3:]] == ["customer.updated", "customer.created"]
