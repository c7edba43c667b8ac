"""RSL License Server: the Open License Protocol's token endpoint against this service's plans.

OLP (rslstandard.org/api) extends OAuth 2.0: a client authenticates with its client
credentials and asks `POST {server}/token` with `grant_type=rsl`, the RSL `<license>` it
wants (copied from license.xml) and the `resource` URL; the server answers with a license
token the client presents as `Authorization: License <token>`.

Registration and payment are the signup (`POST /v1/signup`), which issues an API key; the API
key is the client secret (HTTP Basic `client_id:client_secret`, or the form fields). The
server checks that the requested license is one this site offers, that the resource is this
site's licensed content (compared on whole path segments: `/v1/contentEVIL` is not
`/v1/content`), and that the key's subscription is on that plan and in good standing; then it
issues a license token (`olp/tokens.py`) valid for `LICENSE_TOKEN_TTL_SECONDS`.

Client authentication is throttled per client address with the failed-key-lookup limiter:
unknown or malformed client secrets count as failed lookups, and a blocked address gets 429
before any database query.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Subscription
from licensing_api.billing.plans import PlanCatalogue
from licensing_api.keys.models import ApiKey, KeyKind, KeyStatus
from licensing_api.keys.service import digest_of, is_well_formed
from licensing_api.olp.tokens import GOOD_STANDING, TOKEN_TYPE, IssuedToken, issue_token
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter, TooManyFailedKeyLookups
from licensing_api.settings import Settings
from licensing_api.standards.rsl import LicenseXmlError, parse_requested_license, plan_for_requested

GRANT_TYPE = "rsl"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="licensing-api"'}


@dataclass
class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description, **self.extra}


@dataclass(frozen=True, slots=True)
class LicenseGrant:
    issued: IssuedToken

    def body(self) -> dict[str, str | int]:
        row = self.issued.row
        return {
            "access_token": self.issued.token,
            "token_type": TOKEN_TYPE,
            "expires_in": self.issued.expires_in,
            "license": row.plan_id,
            "resource": row.resource,
        }


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str | None
    client_secret: str | None


def client_credentials(
    authorization: str | None, form_id: str | None, form_secret: str | None
) -> ClientCredentials:
    """HTTP Basic credentials (preferred, RFC 6749 §2.3.1) or the form fields."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ClientCredentials(None, None)
        client_id, _, secret = decoded.partition(":")
        return ClientCredentials(client_id or None, secret or None)
    return ClientCredentials(form_id or None, form_secret or None)


def is_licensed_resource(settings: Settings, resource: str) -> bool:
    """Whether `resource` is under this site's licensed content, on whole path segments."""
    content_base = f"{settings.public_base_url}/v1/content"
    return resource == content_base or resource.startswith((content_base + "/", content_base + "?"))


async def authenticated_client(
    session: AsyncSession, settings: Settings, limiter: FailedKeyLookupLimiter, address: str,
    credentials: ClientCredentials,
) -> ApiKey:
    """The active API key that is the client secret; unknown secrets count against `address`."""
    signup = {"signup_url": f"{settings.public_base_url}/v1/signup",
              "error_uri": f"{settings.public_base_url}/license"}
    try:
        limiter.check(address)
    except TooManyFailedKeyLookups as exc:
        wait = exc.headers.get("Retry-After", "1")
        raise OAuthError("too_many_requests", exc.detail, status=429,
                         headers={"Retry-After": wait}) from None
    secret = credentials.client_secret
    if not secret or not is_well_formed(secret):
        limiter.record_failure(address)
        raise OAuthError(
            "invalid_client",
            "authenticate with HTTP Basic, your API key as the client secret; "
            "no key yet? sign up for a plan at signup_url",
            status=401, headers=BASIC_CHALLENGE, extra=signup,
        )
    key = await session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(secret)))
    if key is None or key.status != KeyStatus.ACTIVE or key.kind != KeyKind.SECRET:
        limiter.record_failure(address)
        raise OAuthError("invalid_client", "unknown or revoked API key", status=401,
                         headers=BASIC_CHALLENGE, extra=signup)
    return key


async def grant_license(
    session: AsyncSession,
    settings: Settings,
    catalogue: PlanCatalogue,
    limiter: FailedKeyLookupLimiter,
    address: str,
    *,
    grant_type: str | None,
    credentials: ClientCredentials,
    license_xml: str | None,
    resource: str | None,
    now: datetime,
) -> LicenseGrant:
    if grant_type != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"use grant_type={GRANT_TYPE}")
    key = await authenticated_client(session, settings, limiter, address, credentials)
    if not license_xml or not resource:
        raise OAuthError("invalid_request", "send both `license` (an RSL <license>) and `resource`")
    if not is_licensed_resource(settings, resource):
        raise OAuthError(
            "invalid_target", f"this server licenses resources under {settings.public_base_url}/v1/content/"
        )
    try:
        requested = parse_requested_license(license_xml)
    except LicenseXmlError as exc:
        raise OAuthError("invalid_request", f"license: {exc}") from None
    plan = plan_for_requested(settings, catalogue, requested)
    if plan is None:
        raise OAuthError("invalid_grant", "no plan offers that license; pick one from license.xml")
    customer = await session.get(Customer, key.customer_id)
    if customer is None or customer.state not in GOOD_STANDING:
        state = customer.state if customer else "missing"
        raise OAuthError("invalid_grant", f"the account is {state}; settle it before licensing")
    subscription = await session.scalar(
        select(Subscription)
        .where(Subscription.customer_id == key.customer_id)
        .order_by(Subscription.created_at.desc())
        .limit(1)
    )
    if subscription is None:
        raise OAuthError("invalid_grant", "the account has no subscription; sign up for a plan")
    if subscription.plan_id != plan.id:
        raise OAuthError(
            "invalid_grant",
            f"your subscription is on plan {subscription.plan_id!r}; request that plan's "
            f"license, or sign up for {plan.id!r}",
        )
    issued = await issue_token(
        session, key, plan_id=plan.id, resource=resource, client_id=credentials.client_id,
        ttl_seconds=settings.license_token_ttl_seconds, now=now,
    )
    return LicenseGrant(issued)
