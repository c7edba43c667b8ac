"""License tokens: opaque, stored as digests, valid until `expires_at` while their API key and
account are.

A token is `lt_` + 43 random URL-safe characters. The request path finds it like an API key:
by its SHA-256 digest in the worker's access cache, whose entry is the issuing key's access
record (so the account's state applies, and revoking the key or the account drops the token
from every worker at once) and lives no longer than the token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.records import AccessRecord, load_access_record
from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.plans import PlanCatalogue
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.olp.models import LicenseToken

TOKEN_PREFIX = "lt_"
TOKEN_PATTERN = re.compile(r"^lt_[A-Za-z0-9_-]{32,128}$")
TOKEN_TYPE = "License"
GOOD_STANDING = (AccountState.ACTIVE, AccountState.PAST_DUE)


def is_license_token(credential: str) -> bool:
    return TOKEN_PATTERN.fullmatch(credential) is not None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once, in the token response
    row: LicenseToken

    @property
    def expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())


async def issue_token(
    session: AsyncSession, key: ApiKey, *, plan_id: str, resource: str, client_id: str | None,
    ttl_seconds: int, now: datetime,
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = LicenseToken(
        digest=token_digest(token), api_key_id=key.id, customer_id=key.customer_id, plan_id=plan_id,
        resource=resource, client_id=client_id, issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return IssuedToken(token, row)


@dataclass(frozen=True, slots=True)
class TokenState:
    row: LicenseToken
    key: ApiKey
    customer: Customer

    def active(self, now: datetime) -> bool:
        return (
            self.row.expires_at > now
            and self.key.status == KeyStatus.ACTIVE
            and self.customer.state in GOOD_STANDING
        )


async def token_state(session: AsyncSession, token: str) -> TokenState | None:
    row = (await session.execute(
        select(LicenseToken, ApiKey, Customer)
        .join(ApiKey, ApiKey.id == LicenseToken.api_key_id)
        .join(Customer, Customer.id == LicenseToken.customer_id)
        .where(LicenseToken.digest == token_digest(token))
    )).first()
    return TokenState(*row) if row is not None else None


async def load_token_record(
    session: AsyncSession, catalogue: PlanCatalogue, digest: str, now: datetime
) -> tuple[AccessRecord, datetime] | None:
    """The issuing key's access record and the token's expiry, for an unexpired token."""
    row = (await session.execute(
        select(LicenseToken.expires_at, ApiKey.digest)
        .join(ApiKey, ApiKey.id == LicenseToken.api_key_id)
        .where(LicenseToken.digest == digest, LicenseToken.expires_at > now)
    )).first()
    if row is None:
        return None
    record = await load_access_record(session, catalogue, row.digest)
    return (record, row.expires_at) if record is not None else None


def introspection(state: TokenState | None, caller_customer_id: uuid.UUID, now: datetime) -> dict[str, object]:
    """RFC 7662 §2.2: the token's state, or only `active: false` (unknown, expired, revoked,
    another customer's)."""
    if state is None or state.customer.id != caller_customer_id or not state.active(now):
        return {"active": False}
    row = state.row
    return {
        "active": True,
        "token_type": TOKEN_TYPE,
        "client_id": row.client_id,
        "sub": str(row.customer_id),
        "aud": row.resource,
        "iat": int(row.issued_at.timestamp()),
        "exp": int(row.expires_at.timestamp()),
        "license": row.plan_id,
        "resource": row.resource,
    }
