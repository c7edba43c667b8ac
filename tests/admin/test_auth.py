"""`/admin/*` answers only to `Authorization: Bearer <ADMIN_TOKEN>`; unset, the API is off."""

from __future__ import annotations

import pytest

from tests.admin.conftest import ADMIN_TOKEN

ADMIN_ROUTES = ["/admin/customers", "/admin/subscriptions", "/admin/keys", "/admin/plans",
                "/admin/usage-reports"]


@pytest.mark.parametrize("path", ADMIN_ROUTES)
async def test_admin_api_is_off_without_admin_token(client, path):
    response = await client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 404
    assert response.json()["type"].endswith("/admin-api-off")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789abcdef"}, {"Authorization": f"Basic {ADMIN_TOKEN}"},
     {"Authorization": f"Bearer {ADMIN_TOKEN}x"}, {"X-API-Key": ADMIN_TOKEN}],
    ids=["missing", "wrong", "wrong-scheme", "longer", "api-key-header"],
)
async def test_admin_api_refuses_a_missing_or_wrong_token(admin, headers):
    response = await admin.http.get("/admin/customers", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


async def test_admin_api_accepts_the_token(admin):
    response = await admin.get("/admin/plans")
    assert response.status_code == 200
    assert {plan["id"] for plan in response.json()} >= {"standard"}
