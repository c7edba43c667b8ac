"""Self-service signup: Stripe Checkout, provisioning on completion, the key shown once.

1. `start_signup` creates a Checkout Session (mode subscription) for the plan's prices.
2. Stripe sends `checkout.session.completed`; the webhook handler calls
   `provision_from_checkout`, which mirrors the customer and subscription, issues the first
   key and keeps its secret, sealed (`sealing.py`), in `signup_secrets` under the checkout
   session id: in the same transaction, so a committed provisioning always has its secret
   (no Redis step after the commit that could fail).
3. The success page (`take_signup_secret`) takes the secret and clears it in its unit of
   work, which commits before the page is sent: shown exactly once, and never after an hour.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.catalogue_sync import PLAN_METADATA_KEY
from licensing_api.billing.errors import translate, translate_stripe_errors
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.provisioning import (
    ProvisionedCustomer,
    record_stripe_subscription,
    usage_item_of,
)
from licensing_api.billing.service import plan_spec, subscription_items, synced_plan
from licensing_api.billing.stripe_client import field, require_stripe
from licensing_api.db import utcnow
from licensing_api.errors import BadRequest, NotFound, ServiceUnavailable
from licensing_api.resources import Resources
from licensing_api.sealing import SealedSecretUnreadable
from licensing_api.signup.models import SignupSecret

logger = logging.getLogger(__name__)

SECRET_TTL = timedelta(hours=1)  # the success page must be visited within the hour
CHECKOUT_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"  # Stripe substitutes the session id


class NotASignupCheckout(BadRequest):
    slug, title = "not-a-signup-checkout", "Not a signup checkout session"


class CheckoutSessionNotFound(NotFound):
    slug, title = "checkout-session-not-found", "No such checkout session"


class SignupSecretUnreadable(ServiceUnavailable):
    slug, title = "signup-secret-unreadable", "The new key cannot be read here"


@dataclass(frozen=True, slots=True)
class CheckoutStarted:
    url: str
    checkout_session_id: str


class SignupStatus(enum.StrEnum):
    KEY_READY = "key_ready"  # the secret is in `SignupSecretResult.secret`, now cleared
    ALREADY_SHOWN = "already_shown"  # provisioned; the secret was shown before (or expired)
    PENDING = "pending"  # paid, but the webhook has not been processed yet
    UNPAID = "unpaid"  # the checkout session is not complete


@dataclass(frozen=True, slots=True)
class SignupSecretResult:
    status: SignupStatus
    secret: str | None = None
    customer_id: str | None = None


async def start_signup(
    session: AsyncSession, resources: Resources, email: str, plan_id: str
) -> CheckoutStarted:
    client = require_stripe(resources.stripe)
    plan = await synced_plan(session, plan_spec(resources.catalogue, plan_id))
    base = resources.settings.public_base_url
    metadata = {PLAN_METADATA_KEY: plan.id}
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": subscription_items(plan),
        "customer_email": email,
        "client_reference_id": uuid.uuid4().hex,  # one signup attempt, for support
        "success_url": f"{base}/signup/success?session_id={CHECKOUT_PLACEHOLDER}",
        "cancel_url": f"{base}/signup/cancelled",
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    with translate_stripe_errors("checkout.sessions.create"):
        checkout = await client.v1.checkout.sessions.create_async(params)  # type: ignore[arg-type]
    logger.info("signup_started", extra={"plan": plan.id, "checkout_session_id": checkout.id})
    return CheckoutStarted(url=checkout.url or "", checkout_session_id=checkout.id)


def is_signup_checkout(checkout_session: dict[str, Any] | stripe.StripeObject) -> bool:
    """Whether a completed Checkout Session came from `POST /v1/signup`."""
    return (
        field(checkout_session, "mode") == "subscription"
        and bool(field(checkout_session, "subscription"))
        and field(field(checkout_session, "metadata"), PLAN_METADATA_KEY) is not None
    )


async def provision_from_checkout(
    session: AsyncSession, resources: Resources, checkout_session: dict[str, Any] | stripe.StripeObject
) -> ProvisionedCustomer:
    """Provision the customer of a completed signup checkout; idempotent per subscription.

    Call it inside the webhook's `session_scope`: the new key's secret reaches Redis only
    after that transaction commits. A repeated call returns the same rows, `first_key=None`.
    """
    if not is_signup_checkout(checkout_session):
        raise NotASignupCheckout(f"checkout session {field(checkout_session, 'id')} is not a signup")
    checkout_id = str(checkout_session["id"])
    subscription_id = _id_of(checkout_session["subscription"])
    spec = plan_spec(resources.catalogue, checkout_session["metadata"][PLAN_METADATA_KEY])
    existing = await _provisioned(session, subscription_id)
    if existing is not None:
        return existing
    client = require_stripe(resources.stripe)
    with translate_stripe_errors("subscriptions.retrieve"):
        subscription = await client.v1.subscriptions.retrieve_async(subscription_id)
    email = field(field(checkout_session, "customer_details"), "email") or field(
        checkout_session, "customer_email", ""
    )
    provisioned = await record_stripe_subscription(
        session, spec, email, subscription, source=f"checkout:{checkout_id}"
    )
    if provisioned.first_key is not None:
        session.add(SignupSecret(
            checkout_session_id=checkout_id, customer_id=provisioned.customer.id,
            sealed_secret=resources.sealer.seal(provisioned.first_key.secret),
            expires_at=utcnow() + SECRET_TTL,
        ))
        await session.flush()
    logger.info("signup_provisioned", extra={
        "customer_id": str(provisioned.customer.id), "plan": spec.id,
        "checkout_session_id": checkout_id, "stripe_subscription_id": subscription_id,
    })
    return provisioned


async def take_signup_secret(
    session: AsyncSession, resources: Resources, checkout_session_id: str, now: datetime | None = None,
) -> SignupSecretResult:
    """The new key's secret, once: cleared in the caller's unit of work (commit it before
    showing the secret); later calls, and calls after `SECRET_TTL`, say it was shown."""
    require_stripe(resources.stripe)
    now = now or utcnow()
    kept = await session.scalar(
        select(SignupSecret).where(SignupSecret.checkout_session_id == checkout_session_id)
        .with_for_update()
    )
    if kept is not None:
        customer_id = str(kept.customer_id)
        if kept.sealed_secret is None or kept.expires_at <= now:
            kept.sealed_secret = None
            return SignupSecretResult(SignupStatus.ALREADY_SHOWN, customer_id=customer_id)
        try:
            secret = resources.sealer.open(kept.sealed_secret)
        except SealedSecretUnreadable:
            logger.error("signup_secret_unreadable", extra={
                "checkout_session_id": checkout_session_id,
                "fix": "set the same SESSION_SECRET on every worker"})
            raise SignupSecretUnreadable(
                "this worker cannot read the new key; reload the page (the service needs one "
                "SESSION_SECRET on every worker)", headers={"Retry-After": "1"}) from None
        kept.sealed_secret, kept.shown_at = None, now
        return SignupSecretResult(SignupStatus.KEY_READY, secret, customer_id)
    checkout = await _retrieve_checkout(resources, checkout_session_id)
    if checkout.status == "complete":
        return SignupSecretResult(SignupStatus.PENDING)
    return SignupSecretResult(SignupStatus.UNPAID)


async def forget_expired_signup_secrets(session: AsyncSession, now: datetime | None = None) -> int:
    """Clear every sealed secret older than `SECRET_TTL` (the rows stay as markers)."""
    result = await session.execute(
        update(SignupSecret)
        .where(SignupSecret.sealed_secret.is_not(None), SignupSecret.expires_at <= (now or utcnow()))
        .values(sealed_secret=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _retrieve_checkout(resources: Resources, checkout_session_id: str) -> stripe.checkout.Session:
    client = require_stripe(resources.stripe)
    try:
        return await client.v1.checkout.sessions.retrieve_async(checkout_session_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise CheckoutSessionNotFound(f"no checkout session {checkout_session_id}") from exc
        raise translate(exc, "checkout.sessions.retrieve") from exc
    except stripe.StripeError as exc:
        raise translate(exc, "checkout.sessions.retrieve") from exc


async def _provisioned(session: AsyncSession, stripe_subscription_id: str) -> ProvisionedCustomer | None:
    subscription = await session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription_id)
    )
    if subscription is None:
        return None
    customer = await session.get(Customer, subscription.customer_id)
    items = list(await session.scalars(
        select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)
    ))
    assert customer is not None  # foreign key
    return ProvisionedCustomer(customer, subscription, usage_item_of(items), first_key=None)


def _id_of(reference: Any) -> str:
    return reference if isinstance(reference, str) else str(reference["id"])
