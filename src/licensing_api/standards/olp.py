"""RSL License Server: the Open License Protocol's token endpoint against this service's plans.

OLP (rslstandard.org/api) extends OAuth 2.0: a client authenticates with its client
credentials and asks `POST {server}/token` with `grant_type=rsl`, the RSL `<license>` it
wants and the `resource` URL; the server answers with a license token the client presents
as `Authorization: License <token>`. Registration and payment are left to the operator.

Here registration and payment are the signup (`POST /v1/signup`), which issues an API key;
the API key is the client secret (HTTP Basic `client_id:client_secret`, any client_id, or the
form fields). The server checks that the requested license is one this site offers (see
`license.xml`) and that the key's subscription is on that plan and in good standing, and
returns the key itself as the license token (`token_type` "License"): it stays valid as long
as the subscription does, and the content API accepts it under either scheme.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.models import Subscription
from licensing_api.billing.plans import PlanCatalogue
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.keys.service import digest_of, is_well_formed
from licensing_api.settings import Settings
from licensing_api.standards.rsl import (
    LicenseXmlError,
    parse_requested_license,
    plan_for_requested,
)

GRANT_TYPE = "rsl"
TOKEN_TYPE = "License"
GOOD_STANDING = (AccountState.ACTIVE, AccountState.PAST_DUE)


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
    access_token: str
    plan_id: str
    resource: str

    def body(self) -> dict[str, str]:
        return {
            "access_token": self.access_token,
            "token_type": TOKEN_TYPE,
            "license": self.plan_id,
            "resource": self.resource,
        }


def client_secret_from(authorization: str | None, form_secret: str | None) -> str | None:
    """The client secret from HTTP Basic credentials (preferred) or the form body."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _client_id, _, secret = decoded.partition(":")
        return secret or None
    return form_secret or None


async def grant_license(
    session: AsyncSession,
    settings: Settings,
    catalogue: PlanCatalogue,
    *,
    grant_type: str | None,
    client_secret: str | None,
    license_xml: str | None,
    resource: str | None,
) -> LicenseGrant:
    signup = {"signup_url": f"{settings.public_base_url}/v1/signup",
              "error_uri": f"{settings.public_base_url}/license"}
    if grant_type != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"use grant_type={GRANT_TYPE}")
    if not client_secret or not is_well_formed(client_secret):
        raise OAuthError(
            "invalid_client",
            "authenticate with HTTP Basic, your API key as the client secret; "
            "no key yet? sign up for a plan at signup_url",
            status=401, headers={"WWW-Authenticate": 'Basic realm="licensing-api"'}, extra=signup,
        )
    if not license_xml or not resource:
        raise OAuthError("invalid_request", "send both `license` (an RSL <license>) and `resource`")
    content_base = f"{settings.public_base_url}/v1/content"
    if not resource.startswith(content_base):
        raise OAuthError("invalid_target", f"this server licenses resources under {content_base}")
    try:
        requested = parse_requested_license(license_xml)
    except LicenseXmlError as exc:
        raise OAuthError("invalid_request", f"license: {exc}") from None
    plan = plan_for_requested(settings, catalogue, requested)
    if plan is None:
        raise OAuthError("invalid_grant", "no plan offers that license; pick one from license.xml")

    key = await session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(client_secret)))
    if key is None or key.status != KeyStatus.ACTIVE:
        raise OAuthError(
            "invalid_client", "unknown or revoked API key", status=401,
            headers={"WWW-Authenticate": 'Basic realm="licensing-api"'}, extra=signup,
        )
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
    return LicenseGrant(access_token=client_secret, plan_id=plan.id, resource=resource)
