"""Self-service signup: Stripe Checkout, provisioning on completion, the key shown once.

1. `start_signup` creates a Checkout Session (mode subscription) for the plan's prices.
2. Stripe sends `checkout.session.completed`; the webhook handler calls
   `provision_from_checkout`, which mirrors the customer and subscription, issues the first
   key and, after the commit, parks its secret in Redis under the checkout session id.
3. The success page (`take_signup_secret`) pops the secret (GETDEL): shown exactly once.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import select
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
from licensing_api.db import after_commit
from licensing_api.errors import BadRequest, NotFound
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

SECRET_TTL_SECONDS = 3600  # the success page must be visited within the hour
PROVISIONED_MARKER_TTL_SECONDS = 30 * 86400
CHECKOUT_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"  # Stripe substitutes the session id


class NotASignupCheckout(BadRequest):
    slug, title = "not-a-signup-checkout", "Not a signup checkout session"


class CheckoutSessionNotFound(NotFound):
    slug, title = "checkout-session-not-found", "No such checkout session"


@dataclass(frozen=True, slots=True)
class CheckoutStarted:
    url: str
    checkout_session_id: str


class SignupStatus(enum.StrEnum):
    KEY_READY = "key_ready"  # the secret is in `SignupSecret.secret`, now deleted from Redis
    ALREADY_SHOWN = "already_shown"  # provisioned; the secret was shown before (or expired)
    PENDING = "pending"  # paid, but the webhook has not been processed yet
    UNPAID = "unpaid"  # the checkout session is not complete


@dataclass(frozen=True, slots=True)
class SignupSecret:
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
        secret, customer_id = provisioned.first_key.secret, str(provisioned.customer.id)

        async def park_secret() -> None:
            await resources.redis.set(_secret_key(resources, checkout_id), secret,
                                      ex=SECRET_TTL_SECONDS, nx=True)
            await resources.redis.set(_marker_key(resources, checkout_id), customer_id,
                                      ex=PROVISIONED_MARKER_TTL_SECONDS)

        after_commit(session, park_secret)
    logger.info("signup_provisioned", extra={
        "customer_id": str(provisioned.customer.id), "plan": spec.id,
        "checkout_session_id": checkout_id, "stripe_subscription_id": subscription_id,
    })
    return provisioned


async def take_signup_secret(resources: Resources, checkout_session_id: str) -> SignupSecret:
    """The new key's secret, once: popped from Redis; later calls say it was shown."""
    require_stripe(resources.stripe)
    secret = await resources.redis.getdel(_secret_key(resources, checkout_session_id))
    marker = await resources.redis.get(_marker_key(resources, checkout_session_id))
    customer_id = marker.decode() if marker else None
    if secret is not None:
        return SignupSecret(SignupStatus.KEY_READY, secret.decode(), customer_id)
    if marker is not None:
        return SignupSecret(SignupStatus.ALREADY_SHOWN, customer_id=customer_id)
    checkout = await _retrieve_checkout(resources, checkout_session_id)
    if checkout.status == "complete":
        return SignupSecret(SignupStatus.PENDING)
    return SignupSecret(SignupStatus.UNPAID)


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


def _secret_key(resources: Resources, checkout_session_id: str) -> str:
    return resources.redis_key("signup", "secret", checkout_session_id)


def _marker_key(resources: Resources, checkout_session_id: str) -> str:
    return resources.redis_key("signup", "provisioned", checkout_session_id)


def _id_of(reference: Any) -> str:
    return reference if isinstance(reference, str) else str(reference["id"])
