"""Customers: list, detail, and audited state changes through the account state machine."""

from __future__ import annotations

import json
import uuid

from licensing_api.access.invalidation import channel_name


async def test_customers_are_listed_and_filtered_by_state(admin):
    provisioned = await admin.provision(f"list-{uuid.uuid4().hex[:6]}@example.com")
    response = await admin.get("/admin/customers", email=provisioned.customer.email)
    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body["items"]] == [str(provisioned.customer.id)]
    assert body["items"][0]["state"] == "active"
    assert body["next_offset"] is None
    suspended = await admin.get("/admin/customers", state="suspended", email=provisioned.customer.email)
    assert suspended.json()["items"] == []


async def test_customer_list_pages_with_next_offset(admin):
    for n in range(3):
        await admin.provision(f"page-{n}-{uuid.uuid4().hex[:6]}@example.com")
    first = (await admin.get("/admin/customers", limit=2)).json()
    assert len(first["items"]) == 2
    assert first["next_offset"] == 2
    second = (await admin.get("/admin/customers", limit=2, offset=2)).json()
    assert {c["id"] for c in second["items"]}.isdisjoint({c["id"] for c in first["items"]})


async def test_customer_detail_shows_subscriptions_and_key_prefixes_never_secrets(admin):
    provisioned = await admin.provision(f"detail-{uuid.uuid4().hex[:6]}@example.com")
    response = await admin.get(f"/admin/customers/{provisioned.customer.id}")
    assert response.status_code == 200
    body = response.json()
    assert [s["plan_id"] for s in body["subscriptions"]] == ["standard"]
    assert [k["prefix"] for k in body["keys"]] == [provisioned.first_key.key.prefix]
    assert provisioned.first_key.secret not in response.text
    assert "digest" not in response.text


async def test_unknown_customer_is_a_404_problem(admin):
    response = await admin.get(f"/admin/customers/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/customer-not-found")


async def test_state_change_is_audited_and_invalidates_the_customers_cache(admin):
    provisioned = await admin.provision(f"suspend-{uuid.uuid4().hex[:6]}@example.com")
    pubsub = admin.resources.redis.pubsub()
    await pubsub.subscribe(channel_name(admin.resources.settings.redis_key_prefix))
    try:
        response = await admin.post(
            f"/admin/customers/{provisioned.customer.id}/state",
            {"state": "suspended", "reason": "chargeback under review"},
        )
        assert response.status_code == 200
        assert response.json()["state"] == "suspended"
        messages = []
        for _ in range(20):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                messages.append(json.loads(message["data"]))
                break
    finally:
        await pubsub.aclose()
    assert {"customer_id": str(provisioned.customer.id)} in messages
    detail = (await admin.get(f"/admin/customers/{provisioned.customer.id}")).json()
    assert detail["audit_log"][-1] == {
        **detail["audit_log"][-1], "from_state": "active", "to_state": "suspended",
        "reason": "chargeback under review", "source": "admin",
    }


async def test_a_transition_the_state_machine_forbids_is_a_409(admin):
    provisioned = await admin.provision(f"revoked-{uuid.uuid4().hex[:6]}@example.com")
    path = f"/admin/customers/{provisioned.customer.id}/state"
    assert (await admin.post(path, {"state": "revoked", "reason": "fraud"})).status_code == 200
    response = await admin.post(path, {"state": "active", "reason": "oops"})
    assert response.status_code == 409
    assert response.json()["type"].endswith("/transition-not-allowed")
