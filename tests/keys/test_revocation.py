"""Revocation that reaches every worker: the row changes and, after commit, the cache channel hears."""

from __future__ import annotations

import asyncio
import json

import pytest

from licensing_api.access.invalidation import channel_name
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.keys.service import (
    KeyAlreadyRevoked,
    KeyNotFound,
    revoke_key_everywhere,
    rotate_key,
)


async def _next_message(pubsub, timeout: float = 2.0) -> dict | None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return json.loads(message["data"])
    return None


async def _provision(resources, email: str):
    async with session_scope(resources.sessionmaker) as session:
        return await provision_local_customer(session, email, resources.catalogue.get("standard"))


async def test_revoking_publishes_the_key_digest_only_after_commit(resources):
    provisioned = await _provision(resources, "revoke-publish@example.com")
    key = provisioned.first_key.key
    prefix = resources.settings.redis_key_prefix
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(channel_name(prefix))
    try:
        async with session_scope(resources.sessionmaker) as session:
            await revoke_key_everywhere(session, resources.redis, prefix, key.id, key.customer_id)
            assert await _next_message(pubsub, timeout=0.3) is None
        assert await _next_message(pubsub) == {"key_digest": key.digest}
    finally:
        await pubsub.aclose()
    async with session_scope(resources.sessionmaker) as session:
        assert (await session.get(ApiKey, key.id)).status == KeyStatus.REVOKED


async def test_a_rolled_back_revocation_publishes_nothing(resources):
    provisioned = await _provision(resources, "revoke-rollback@example.com")
    key = provisioned.first_key.key
    prefix = resources.settings.redis_key_prefix
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(channel_name(prefix))
    try:
        with pytest.raises(RuntimeError):
            async with session_scope(resources.sessionmaker) as session:
                await revoke_key_everywhere(session, resources.redis, prefix, key.id)
                raise RuntimeError("abort the unit of work")
        assert await _next_message(pubsub, timeout=0.5) is None
    finally:
        await pubsub.aclose()


async def test_another_customers_key_cannot_be_revoked(resources):
    owner = await _provision(resources, "owner@example.com")
    other = await _provision(resources, "other@example.com")
    with pytest.raises(KeyNotFound):
        async with session_scope(resources.sessionmaker) as session:
            await revoke_key_everywhere(
                session, resources.redis, resources.settings.redis_key_prefix,
                owner.first_key.key.id, other.customer.id,
            )


async def test_rotating_creates_a_same_named_key_and_revokes_the_old_one(resources):
    provisioned = await _provision(resources, "rotate@example.com")
    old = provisioned.first_key.key
    prefix = resources.settings.redis_key_prefix
    async with session_scope(resources.sessionmaker) as session:
        replacement = await rotate_key(session, resources.redis, prefix, old.id, old.customer_id)
    assert replacement.key.name == old.name and replacement.key.id != old.id
    async with session_scope(resources.sessionmaker) as session:
        assert (await session.get(ApiKey, old.id)).status == KeyStatus.REVOKED
        assert (await session.get(ApiKey, replacement.key.id)).status == KeyStatus.ACTIVE
    with pytest.raises(KeyAlreadyRevoked):
        async with session_scope(resources.sessionmaker) as session:
            await rotate_key(session, resources.redis, prefix, old.id, old.customer_id)
