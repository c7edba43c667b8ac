"""An operator reinstates a suspended or revoked account: `POST /admin/customers/{id}/reinstate`
and `licensing-api customers reinstate ID`.

The account becomes active (audited, caches invalidated, the customer notified). Where its
subscription has ended (revoked after a refund, a dispute, a deletion), a new one is created
on the same plan: in Stripe with billing on (same collection method and payment method as
the old one; a card that fails makes the reinstatement fail, so nothing is half done), else
locally. The customer's API keys are kept; a revoked key stays revoked.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.accounts.service import CustomerNotFound, reinstate_account
from licensing_api.accounts.stripe_sync import ENDED_STATUSES
from licensing_api.billing.catalogue_sync import PLAN_METADATA_KEY
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Subscription
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.provisioning import add_local_subscription, record_stripe_subscription
from licensing_api.billing.service import plan_spec, subscription_items, synced_plan
from licensing_api.billing.stripe_client import field, idempotency_key
from licensing_api.errors import Conflict
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)


class NotReinstatable(Conflict):
    slug, title = "not-reinstatable", "Nothing to reinstate"


@dataclass(frozen=True, slots=True)
class Reinstated:
    customer: Customer
    subscription: Subscription
    new_subscription: bool


async def reinstate(
    session: AsyncSession, resources: Resources, customer_id: uuid.UUID, *, reason: str, source: str,
) -> Reinstated:
    customer = await session.scalar(select(Customer).where(Customer.id == customer_id).with_for_update())
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    if customer.state not in (AccountState.SUSPENDED, AccountState.REVOKED):
        raise NotReinstatable(f"the account is {customer.state}: only a suspended or revoked "
                              "account can be reinstated")
    latest = await session.scalar(
        select(Subscription).where(Subscription.customer_id == customer.id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(1).with_for_update())
    if latest is None:
        raise NotReinstatable("the customer never had a subscription; create one with "
                              "`licensing-api customers create`")
    spec = plan_spec(resources.catalogue, latest.plan_id)
    subscription, created = latest, False
    if latest.status in ENDED_STATUSES:
        if resources.stripe is not None and latest.stripe_subscription_id and customer.stripe_customer_id:
            subscription = await _new_stripe_subscription(session, resources, customer, latest, spec)
        else:
            subscription, _ = await add_local_subscription(session, customer, spec)
        created = True
    detail = f"{reason}; new subscription" if created else reason
    await reinstate_account(session, resources, customer, reason=f"reinstated: {detail}", source=source)
    logger.info("account_reinstated", extra={"customer_id": str(customer.id), "source": source,
                                             "new_subscription": created})
    return Reinstated(customer, subscription, created)


async def _new_stripe_subscription(
    session: AsyncSession, resources: Resources, customer: Customer, ended: Subscription,
    spec: PlanSpec,
) -> Subscription:
    assert resources.stripe is not None
    client = resources.stripe
    plan = await synced_plan(session, spec)
    with translate_stripe_errors("subscriptions.retrieve"):
        old = await client.v1.subscriptions.retrieve_async(str(ended.stripe_subscription_id))
    params: dict[str, Any] = {
        "customer": customer.stripe_customer_id,
        "items": subscription_items(plan),
        "collection_method": field(old, "collection_method", "charge_automatically"),
        "metadata": {PLAN_METADATA_KEY: spec.id, "licensing_reinstated_from": ended.stripe_subscription_id},
    }
    if params["collection_method"] == "send_invoice":
        params["days_until_due"] = field(old, "days_until_due", 30)
    else:
        params["payment_behavior"] = "error_if_incomplete"  # a failing card fails the reinstatement
        if field(old, "default_payment_method"):
            params["default_payment_method"] = field(old, "default_payment_method")
    with translate_stripe_errors("subscriptions.create"):
        created = await client.v1.subscriptions.create_async(
            params, {"idempotency_key": idempotency_key("reinstate", params)})  # type: ignore[arg-type]
    provisioned = await record_stripe_subscription(
        session, spec, customer.email, created, source="reinstate")
    return provisioned.subscription
