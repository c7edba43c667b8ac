"""`customers create` with billing on: Stripe customer, then subscription, then local rows.

Each run belongs to a provisioning attempt (`ProvisioningAttempt`), recorded locally before
Stripe is called: its id is the token in the Stripe objects' metadata and part of every
idempotency key. Every step first looks for what an earlier, interrupted run of the same
attempt left in Stripe and creates only what is missing; the local rows are upserted by
Stripe ids. So a crash anywhere (before or after Stripe recorded a create) is repaired by
running the same command again, without a second customer or subscription. Once an attempt
has completed, or is found abandoned (its Stripe customer deleted since), the next run is a
new attempt: Stripe creates afresh instead of replaying the old answers for 24 hours.
"""

from __future__ import annotations

import logging
import secrets

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.catalogue_sync import PLAN_METADATA_KEY
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Plan, ProvisioningAttempt
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.provisioning import (
    ProvisionedCustomer,
    already_provisioned,
    record_stripe_subscription,
)
from licensing_api.billing.service import subscription_items, synced_plan
from licensing_api.billing.stripe_client import field, idempotency_key
from licensing_api.db import utcnow

logger = logging.getLogger(__name__)

PROVISIONING_METADATA_KEY = "licensing_provisioning"
INVOICE_DAYS_UNTIL_DUE = 30
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


async def provision_stripe_customer(
    session: AsyncSession, client: stripe.StripeClient, email: str, spec: PlanSpec
) -> ProvisionedCustomer:
    plan = await synced_plan(session, spec)
    existing = await already_provisioned(session, email, spec.id)
    if existing is not None:
        return existing
    token = await _open_attempt(session, email, spec.id)
    customer_id = await _find_or_create_customer(client, email, spec, token)
    if customer_id is None:  # the attempt's customer was deleted in Stripe since: start afresh
        await _abandon_attempt(session, token)
        token = await _open_attempt(session, email, spec.id)
        customer_id = await _find_or_create_customer(client, email, spec, token)
        if customer_id is None:
            raise AssertionError("a new attempt's customer cannot have been deleted")
    subscription = await _find_or_create_subscription(client, customer_id, plan, token)
    provisioned = await record_stripe_subscription(
        session, spec, email, subscription, source="cli"
    )
    # In the caller's transaction: a crash before it commits leaves the attempt open.
    await session.execute(
        update(ProvisioningAttempt).where(ProvisioningAttempt.id == token).values(completed_at=utcnow())
    )
    logger.info("customer_provisioned", extra={
        "customer_id": str(provisioned.customer.id), "plan": spec.id, "attempt": token,
        "stripe_customer_id": customer_id, "stripe_subscription_id": subscription.id,
    })
    return provisioned


async def _open_attempt(session: AsyncSession, email: str, plan_id: str) -> str:
    """The id of the open attempt for (email, plan), or of a new one; committed at once, in
    a transaction of its own, so that a run failing later leaves it for the next run."""
    async with AsyncSession(session.bind) as own:
        token = await own.scalar(
            select(ProvisioningAttempt.id).where(
                ProvisioningAttempt.email == email.lower(), ProvisioningAttempt.plan_id == plan_id,
                ProvisioningAttempt.completed_at.is_(None), ProvisioningAttempt.abandoned_at.is_(None),
            ).order_by(ProvisioningAttempt.started_at.desc()).limit(1)
        )
        if token is None:
            token = secrets.token_hex(16)
            own.add(ProvisioningAttempt(id=token, email=email.lower(), plan_id=plan_id))
            await own.commit()
    return token


async def _abandon_attempt(session: AsyncSession, token: str) -> None:
    async with AsyncSession(session.bind) as own:
        await own.execute(
            update(ProvisioningAttempt).where(ProvisioningAttempt.id == token).values(abandoned_at=utcnow())
        )
        await own.commit()
    logger.warning("provisioning_attempt_abandoned", extra={"attempt": token})


async def _find_or_create_customer(
    client: stripe.StripeClient, email: str, spec: PlanSpec, token: str
) -> str | None:
    """The attempt's Stripe customer; None if Stripe answers with one deleted since."""
    with translate_stripe_errors("customers.list"):
        page = await client.v1.customers.list_async({"email": email, "limit": 100})
        async for customer in page.auto_paging_iter():
            if field(customer.metadata, PROVISIONING_METADATA_KEY) == token:
                return customer.id
    params = {
        "email": email,
        "metadata": {PLAN_METADATA_KEY: spec.id, PROVISIONING_METADATA_KEY: token},
    }
    with translate_stripe_errors("customers.create"):
        customer = await client.v1.customers.create_async(
            params, {"idempotency_key": idempotency_key("customer", params)}  # type: ignore[arg-type]
        )
    # Not listed but "created": Stripe may be replaying this attempt's earlier create, of a
    # customer deleted since (deleted customers are not listed).
    with translate_stripe_errors("customers.retrieve"):
        current = await client.v1.customers.retrieve_async(customer.id)
    return None if getattr(current, "deleted", False) else customer.id


async def _find_or_create_subscription(
    client: stripe.StripeClient, customer_id: str, plan: Plan, token: str
) -> stripe.Subscription:
    with translate_stripe_errors("subscriptions.list"):
        page = await client.v1.subscriptions.list_async(
            {"customer": customer_id, "status": "all", "limit": 100}
        )
        async for subscription in page.auto_paging_iter():
            mine = field(subscription.metadata, PROVISIONING_METADATA_KEY) == token
            if mine and subscription.status not in ENDED_STATUSES:
                return subscription
    params = {
        "customer": customer_id,
        "items": subscription_items(plan),
        # Customers provisioned by an operator pay by invoice; Checkout signups pay by card.
        "collection_method": "send_invoice",
        "days_until_due": INVOICE_DAYS_UNTIL_DUE,
        "metadata": {PLAN_METADATA_KEY: plan.id, PROVISIONING_METADATA_KEY: token},
    }
    with translate_stripe_errors("subscriptions.create"):
        return await client.v1.subscriptions.create_async(
            params, {"idempotency_key": idempotency_key("subscription", params)}  # type: ignore[arg-type]
        )
