"""Keys (list, revoke everywhere) and subscriptions (list, detail with items)."""

from __future__ import annotations

import uuid


async def test_keys_are_listed_by_customer_and_status(admin):
    provisioned = await admin.provision(f"keys-{uuid.uuid4().hex[:6]}@example.com")
    response = await admin.get("/admin/keys", customer_id=str(provisioned.customer.id), status="active")
    assert [k["id"] for k in response.json()["items"]] == [str(provisioned.first_key.key.id)]


async def test_revoking_a_key_takes_effect_for_crawlers(admin):
    provisioned = await admin.provision(f"revoke-{uuid.uuid4().hex[:6]}@example.com")
    crawler = {"Authorization": f"Bearer {provisioned.first_key.secret}"}
    assert (await admin.http.get("/v1/usage", headers=crawler)).status_code == 200

    response = await admin.post(f"/admin/keys/{provisioned.first_key.key.id}/revoke")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert response.json()["revoked_at"] is not None
    assert (await admin.http.get("/v1/usage", headers=crawler)).status_code == 403
    # Idempotent: revoking again answers the same revoked key.
    again = await admin.post(f"/admin/keys/{provisioned.first_key.key.id}/revoke")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == response.json()["revoked_at"]


async def test_revoking_an_unknown_key_is_a_404(admin):
    response = await admin.post(f"/admin/keys/{uuid.uuid4()}/revoke")
    assert response.status_code == 404


async def test_subscription_detail_lists_its_items(admin):
    provisioned = await admin.provision(f"sub-{uuid.uuid4().hex[:6]}@example.com", plan="standard")
    listed = await admin.get("/admin/subscriptions", customer_id=str(provisioned.customer.id))
    (subscription,) = listed.json()["items"]
    detail = await admin.get(f"/admin/subscriptions/{subscription['id']}")
    assert detail.status_code == 200
    assert str(provisioned.usage_item.id) in {item["id"] for item in detail.json()["items"]}


async def test_unknown_subscription_is_a_404(admin):
    assert (await admin.get(f"/admin/subscriptions/{uuid.uuid4()}")).status_code == 404
