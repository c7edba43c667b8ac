"""`POST /webhooks/stripe`: signatures, bodies, duplicates, unknown types, no secret."""

from __future__ import annotations

import json

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from licensing_api.main import create_app
from licensing_api.settings import Settings
from tests.stripe_server.signing import compute_signature
from tests.webhooks.builders import (
    ROTATED_SECRET,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    audit_states,
    count_events,
    deliver,
    event,
    fail_first_audit_insert,
    invoice_for,
    linked_customer,
    now,
    recorded_event,
    signed,
    stripe_object,
    unique,
)


def unknown_event() -> dict:
    return event("plan.created", stripe_object("plan"), now())


async def test_valid_event_is_recorded_and_acknowledged(client, resources):
    evt = unknown_event()
    response = await deliver(client, evt)
    assert response.status_code == 200
    assert response.json() == {"received": True, "event_id": evt["id"], "type": "plan.created",
                               "outcome": "unhandled"}
    row = await recorded_event(resources, evt["id"])
    assert row is not None and row.outcome == "unhandled" and row.payload["id"] == evt["id"]


async def test_missing_signature_answers_400_and_records_nothing(client, resources):
    evt = unknown_event()
    response = await client.post(WEBHOOK_PATH, content=json.dumps(evt))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_events(resources, evt["id"]) == 0


async def test_forged_signature_answers_400_and_records_nothing(client, resources):
    evt = unknown_event()
    response = await deliver(client, evt, secret="whsec_" + "f" * 32)
    assert response.status_code == 400
    assert "signature" in response.json()["detail"]
    assert await count_events(resources, evt["id"]) == 0


async def test_body_changed_after_signing_answers_400(client, resources):
    evt = unknown_event()
    body, headers = signed(evt)
    response = await client.post(WEBHOOK_PATH, content=body.replace(b"plan", b"plam"), headers=headers)
    assert response.status_code == 400
    assert await count_events(resources, evt["id"]) == 0


async def test_signature_older_than_five_minutes_answers_400(client, resources):
    evt = unknown_event()
    response = await deliver(client, evt, timestamp=now() - 301)
    assert response.status_code == 400
    assert "tolerance" in response.json()["detail"]
    assert await count_events(resources, evt["id"]) == 0


async def test_replayed_request_within_tolerance_is_a_duplicate(client, resources):
    customer = await linked_customer(resources)
    evt = event("invoice.payment_failed", invoice_for(customer, created=now()), now())
    body, headers = signed(evt)
    first = await client.post(WEBHOOK_PATH, content=body, headers=headers)
    replay = await client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert first.json()["outcome"] == "applied"
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    assert await count_events(resources, evt["id"]) == 1


async def test_header_with_several_v1_signatures_is_accepted(client):
    evt = unknown_event()
    body = json.dumps(evt).encode()
    t = now()
    header = (f"t={t},v1={compute_signature(body, 'whsec_' + 'e' * 32, t)},"
              f"v1={compute_signature(body, WEBHOOK_SECRET, t)},v0=ignored")
    response = await client.post(WEBHOOK_PATH, content=body, headers={"Stripe-Signature": header})
    assert response.status_code == 200


async def test_event_signed_with_a_rotated_secret_is_accepted(client):
    response = await deliver(client, unknown_event(), secret=ROTATED_SECRET)
    assert response.status_code == 200


async def test_malformed_json_answers_400_and_records_nothing(client):
    response = await deliver(client, b'{"id": "evt_broken", "type": ')
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-webhook")


async def test_json_that_is_not_an_event_answers_400(client, resources):
    response = await deliver(client, json.dumps({"id": "evt_x", "object": "event"}).encode())
    assert response.status_code == 400
    assert await count_events(resources, "evt_x") == 0


async def test_body_that_is_not_utf8_answers_400(client):
    response = await deliver(client, b'{"id": "\xff\xfe"}')
    assert response.status_code == 400


async def test_unknown_event_type_is_recorded_once_and_acknowledged(client, resources):
    evt = event(unique("acme.thing") + ".happened", {"id": "obj_1", "object": "thing"}, now())
    assert (await deliver(client, evt)).json()["outcome"] == "unhandled"
    assert (await deliver(client, evt)).json()["outcome"] == "duplicate"
    assert await count_events(resources, evt["id"]) == 1


async def test_events_are_counted_by_type_and_outcome(client):
    labels = {"type": "plan.created", "outcome": "unhandled"}
    before = REGISTRY.get_sample_value("licensing_webhook_events_total", labels) or 0
    await deliver(client, unknown_event())
    assert REGISTRY.get_sample_value("licensing_webhook_events_total", labels) == before + 1


async def test_unset_webhook_secret_answers_503(settings: Settings):
    app = create_app(settings.model_copy(update={"stripe_webhook_secret": None}))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await deliver(http, unknown_event())
    assert response.status_code == 503
    assert response.json()["type"].endswith("/webhooks-disabled")


async def test_database_failure_answers_500_records_nothing_and_redelivery_applies_once(
    client, resources, database_url
):
    customer = await linked_customer(resources)
    evt = event("invoice.payment_failed", invoice_for(customer, created=now()), now())
    async with fail_first_audit_insert(database_url):
        failed = await deliver(client, evt)
        assert failed.status_code == 500
        assert failed.json()["type"].endswith("/webhook-failed")
        assert await count_events(resources, evt["id"]) == 0
        retried = await deliver(client, evt)
    assert retried.json()["outcome"] == "applied"
    assert [s for s in await audit_states(resources, customer.id)
            if s == ("active", "past_due")] == [("active", "past_due")]
