"""`customers create` with billing on: Stripe customer, then subscription, then local rows.

Every step first looks for what an earlier, interrupted run may have left in Stripe (found by
a token derived from email + plan, kept in the objects' metadata) and creates only what is
missing, with an idempotency key derived from the request (token included); the local rows
are upserted by Stripe ids. So a crash anywhere (before or after Stripe recorded a create) is
repaired by running the same command again, without a second customer or subscription.
"""

from __future__ import annotations

import hashlib
import logging

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.catalogue_sync import PLAN_METADATA_KEY
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Plan
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.provisioning import ProvisionedCustomer, record_stripe_subscription
from licensing_api.billing.service import subscription_items, synced_plan
from licensing_api.billing.stripe_client import field, idempotency_key

logger = logging.getLogger(__name__)

PROVISIONING_METADATA_KEY = "licensing_provisioning"
INVOICE_DAYS_UNTIL_DUE = 30
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


def provisioning_token(email: str, plan_id: str) -> str:
    """Stable per (email, plan): the same command run twice means the same customer."""
    return hashlib.sha256(f"{email.lower()}\n{plan_id}".encode()).hexdigest()[:32]


async def provision_stripe_customer(
    session: AsyncSession, client: stripe.StripeClient, email: str, spec: PlanSpec
) -> ProvisionedCustomer:
    plan = await synced_plan(session, spec)
    token = provisioning_token(email, spec.id)
    customer_id = await _find_or_create_customer(client, email, spec, token)
    subscription = await _find_or_create_subscription(client, customer_id, plan, token)
    provisioned = await record_stripe_subscription(
        session, spec, email, subscription, source="cli"
    )
    logger.info("customer_provisioned", extra={
        "customer_id": str(provisioned.customer.id), "plan": spec.id,
        "stripe_customer_id": customer_id, "stripe_subscription_id": subscription.id,
    })
    return provisioned


async def _find_or_create_customer(
    client: stripe.StripeClient, email: str, spec: PlanSpec, token: str
) -> str:
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
    return customer.id


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
