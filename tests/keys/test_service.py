from sqlalchemy import select

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.keys.service import create_key, digest_of, is_well_formed, revoke_key


async def test_new_key_is_lk_plus_32_urlsafe_chars_and_only_its_digest_is_stored(session, resources):
    provisioned = await provision_local_customer(session, "k@example.com", resources.catalogue.get("standard"))
    new_key = await create_key(session, provisioned.customer.id, name="crawler-2")

    assert is_well_formed(new_key.secret)
    assert len(new_key.secret) >= 3 + 32
    stored = await session.scalar(select(ApiKey).where(ApiKey.id == new_key.key.id))
    assert stored.digest == digest_of(new_key.secret)
    assert new_key.secret.startswith(stored.prefix)
    assert len(stored.prefix) < len(new_key.secret) // 2
    columns = {c.name: getattr(stored, c.key) for c in ApiKey.__table__.columns}
    assert new_key.secret not in {str(v) for v in columns.values()}


async def test_revoking_a_key_is_idempotent_and_timestamped(session, resources):
    provisioned = await provision_local_customer(session, "r@example.com", resources.catalogue.get("standard"))
    key = provisioned.first_key.key
    first = await revoke_key(session, key.id)
    revoked_at = first.revoked_at
    second = await revoke_key(session, key.id)
    assert second.status == KeyStatus.REVOKED
    assert second.revoked_at == revoked_at


def test_malformed_secrets_are_recognised():
    assert not is_well_formed("lk_short")
    assert not is_well_formed("sk_" + "a" * 40)
    assert not is_well_formed("lk_" + "a" * 31 + "!")
