"""Control characters in any text input: 422 problem+json, never a 500 or a stored NUL."""

from __future__ import annotations

import uuid

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import create_engine, session_scope
from licensing_api.main import create_app
from tests.dashboard.pages import hidden, signed_in_page

ADMIN_TOKEN = "plain-text-admin-token-0123456789"
HOSTILE = ["a\u0000b", "line\nbreak", "tab\there", "esc\u001b[31m", "del\u007f", "c1\u0085"]


async def _customer(resources):
    async with session_scope(resources.sessionmaker) as session:
        return await provision_local_customer(
            session, f"{uuid.uuid4().hex[:8]}@example.com", resources.catalogue.get("standard")
        )


def _assert_refused(response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "control characters" in response.json()["detail"]


@pytest.mark.parametrize("name", HOSTILE)
async def test_a_key_name_with_a_control_character_is_422(client, resources, name):
    crawler = await _customer(resources)
    headers = {"Authorization": f"Bearer {crawler.first_key.secret}"}

    _assert_refused(await client.post("/v1/keys", json={"name": name}, headers=headers))

    accepted = await client.post("/v1/keys", json={"name": "crawler – é 🕷"}, headers=headers)
    assert accepted.status_code == 201 and accepted.json()["name"] == "crawler – é 🕷"


async def test_the_dashboard_key_form_refuses_a_nul_in_the_name(client, resources):
    crawler = await _customer(resources)
    page = await signed_in_page(client, crawler.first_key.secret)

    response = await client.post(
        "/dashboard/keys", data={"csrf_token": hidden(page, "csrf_token"), "name": "a\u0000b"}
    )

    _assert_refused(response)


async def test_admin_reason_and_filters_refuse_control_characters(settings, resources):
    app = create_app(settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)}))
    crawler = await _customer(resources)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            _assert_refused(await http.post(
                f"/admin/customers/{crawler.customer.id}/state", headers=auth,
                json={"state": "suspended", "reason": "chargeback\u0000"},
            ))
            _assert_refused(await http.get("/admin/customers", headers=auth, params={"email": "a\u0000@x.io"}))
            _assert_refused(await http.get("/admin/subscriptions", headers=auth, params={"status": "act\u0000"}))


async def test_a_database_error_never_carries_the_statements_parameters(database_url):
    # What a NUL in a key name did before it was refused: the failed INSERT's message (logged
    # with the 500) listed every parameter, the key's digest among them.
    engine = create_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as caught:
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO api_keys (id, customer_id, name, prefix, digest, status, created_at) "
                         "VALUES (:id, :customer, :name, 'lk_x', :digest, 'active', now())"),
                    {"id": uuid.uuid4(), "customer": uuid.uuid4(), "name": "a\u0000b",
                     "digest": "d1f6e0c8secretdigest"},
                )
    finally:
        await engine.dispose()
    assert "d1f6e0c8secretdigest" not in str(caught.value)
    assert "SQL parameters hidden" in str(caught.value)
