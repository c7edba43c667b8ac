"""Self-service key creation is bounded per customer (dashboard and `POST /v1/keys` alike)."""

from __future__ import annotations

import pytest

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from licensing_api.keys.service import MAX_ACTIVE_KEYS, TooManyKeys, create_customer_key, revoke_key


async def test_a_customer_gets_at_most_the_maximum_of_active_keys_and_revoking_frees_one(resources):
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await provision_local_customer(session, "limit@example.com", resources.catalogue.get("standard"))
        customer_id = provisioned.customer.id
        for _ in range(MAX_ACTIVE_KEYS - 1):  # the first key already counts
            await create_customer_key(session, customer_id)
        with pytest.raises(TooManyKeys):
            await create_customer_key(session, customer_id)
        await revoke_key(session, provisioned.first_key.key.id)
        assert (await create_customer_key(session, customer_id)).key.customer_id == customer_id
