"""`/admin/customers/{id}/budget`: an operator reads, sets and removes a customer's budget."""

from __future__ import annotations

import uuid

from tests.admin.conftest import admin  # noqa: F401 - the fixture


async def test_an_operator_sets_reads_and_removes_a_budget(admin):  # noqa: F811
    provisioned = await admin.provision(f"{uuid.uuid4().hex[:8]}@example.com")
    path = f"/admin/customers/{provisioned.customer.id}/budget"
    assert (await admin.get(path)).status_code == 404
    put = await admin.http.put(path, headers=admin.auth, json={"amount": 15000, "hard_stop": True})
    assert put.status_code == 200
    assert (put.json()["amount"], put.json()["stops_at_units"], put.json()["currency"]) == (15000, 51004, "usd")
    assert (await admin.get(path)).json()["thresholds"] == [50, 80, 100]
    removed = await admin.http.delete(path, headers=admin.auth)
    assert removed.json() == {"customer_id": str(provisioned.customer.id), "removed": True}
    assert (await admin.get(path)).status_code == 404


async def test_an_unknown_customer_or_a_bad_value_is_a_4xx_problem(admin):  # noqa: F811
    unknown = await admin.http.put(f"/admin/customers/{uuid.uuid4()}/budget", headers=admin.auth, json={"amount": 1})
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/customer-not-found")
    provisioned = await admin.provision(f"{uuid.uuid4().hex[:8]}@example.com")
    bad = await admin.http.put(f"/admin/customers/{provisioned.customer.id}/budget", headers=admin.auth,
                               json={"amount": 1, "thresholds": [50, 50]})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_the_budget_routes_need_the_admin_token(admin):  # noqa: F811
    response = await admin.http.put(f"/admin/customers/{uuid.uuid4()}/budget", json={"amount": 1})
    assert response.status_code == 401
