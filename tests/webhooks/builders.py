"""Signed Stripe events built from Stripe's own example objects, and linked local customers.

Events: copy an object of `fixtures3.json`, set the fields a test is about, wrap it in an
`event`, sign it with the real scheme (`tests.stripe_server.signing.sign_payload`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select, text

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import create_engine, session_scope
from licensing_api.resources import Resources
from licensing_api.webhooks.models import WebhookEvent
from tests.stripe_server.signing import sign_payload
from tests.stripe_server.store import template

WEBHOOK_SECRET = "whsec_" + "a1" * 16
ROTATED_SECRET = "whsec_" + "b2" * 16  # the previous secret, still accepted while rotating
WEBHOOK_PATH = "/webhooks/stripe"
# A base for event `created` times: the start of yesterday (UTC). Recent, because the service
# compares a failed payment's grace deadline with its own clock; relative, so no test
# depends on which day it runs.
T0 = (int(time.time()) // 86400 - 1) * 86400


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:14]}"


def stripe_object(resource: str, **fields: Any) -> dict[str, Any]:
    """Stripe's example object for `resource` with `fields` set."""
    obj = template(resource)
    obj.update(fields)
    return obj


def event(event_type: str, obj: dict[str, Any], created: int,
          previous: dict[str, Any] | None = None, event_id: str | None = None) -> dict[str, Any]:
    wrapped = template("event")
    wrapped.update(id=event_id or unique("evt"), type=event_type, created=created,
                   api_version="2026-10-28.endive", data={"object": obj})
    if previous is not None:
        wrapped["data"]["previous_attributes"] = previous
    return wrapped


def signed(evt: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = evt if isinstance(evt, bytes) else json.dumps(evt, indent=2).encode()
    return body, {"Stripe-Signature": sign_payload(body, secret, timestamp),
                  "Content-Type": "application/json"}


async def deliver(client: AsyncClient, evt: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET,
                  timestamp: int | None = None) -> Response:
    body, headers = signed(evt, secret, timestamp)
    return await client.post(WEBHOOK_PATH, content=body, headers=headers)


@dataclass(frozen=True, slots=True)
class LinkedCustomer:
    """A local customer mirrored from Stripe ids (the objects need not exist in Stripe)."""

    id: uuid.UUID
    stripe_customer_id: str
    stripe_subscription_id: str
    stripe_item_ids: tuple[str, ...]
    key_secret: str
    # A real charge in the local Stripe server that paid this customer's licensing invoice.
    paid_charge_id: str | None = None
    paid_intent_id: str | None = None


async def linked_customer(
    resources: Resources, *, stripe_customer_id: str | None = None,
    stripe_subscription_id: str | None = None, plan_id: str = "standard",
) -> LinkedCustomer:
    spec = resources.catalogue.get(plan_id)
    assert spec is not None
    cus_id = stripe_customer_id or unique("cus")
    sub_id = stripe_subscription_id or unique("sub")
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await provision_local_customer(session, f"{unique('c')}@example.com", spec)
        provisioned.customer.stripe_customer_id = cus_id
        provisioned.subscription.stripe_subscription_id = sub_id
        items = list(await session.scalars(select(SubscriptionItem).where(
            SubscriptionItem.subscription_id == provisioned.subscription.id)))
        for item in items:
            item.stripe_subscription_item_id = unique("si")
    return LinkedCustomer(provisioned.customer.id, cus_id, sub_id,
                          tuple(i.stripe_subscription_item_id or "" for i in items),
                          provisioned.first_key.secret)


async def licensed_customer(resources: Resources, stripe_client: Any) -> LinkedCustomer:
    """A customer whose subscription exists in the local Stripe server and whose first invoice
    was paid by card: its charge counts as a licensing charge (refunds, disputes)."""
    product = stripe_client.v1.products.create({"name": unique("Licence")})
    price = stripe_client.v1.prices.create({"currency": "usd", "unit_amount": 500,
                                            "product": product.id,
                                            "recurring": {"interval": "month"}})
    stripe_customer = stripe_client.v1.customers.create(
        {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    subscription = stripe_client.v1.subscriptions.create(
        {"customer": stripe_customer.id, "items": [{"price": price.id}]})
    charge = stripe_client.v1.charges.list({"customer": stripe_customer.id}).data[0]
    linked = await linked_customer(resources, stripe_customer_id=stripe_customer.id,
                                   stripe_subscription_id=subscription.id)
    return LinkedCustomer(linked.id, linked.stripe_customer_id, linked.stripe_subscription_id,
                          linked.stripe_item_ids, linked.key_secret, charge.id, charge.payment_intent)


async def customer_row(resources: Resources, customer_id: uuid.UUID) -> Customer:
    async with session_scope(resources.sessionmaker) as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        return customer


async def subscription_row(resources: Resources, stripe_subscription_id: str) -> Subscription:
    async with session_scope(resources.sessionmaker) as session:
        sub = await session.scalar(select(Subscription).where(
            Subscription.stripe_subscription_id == stripe_subscription_id))
        assert sub is not None
        return sub


async def audit_states(resources: Resources, customer_id: uuid.UUID) -> list[tuple[str | None, str]]:
    async with session_scope(resources.sessionmaker) as session:
        rows = await session.execute(
            select(AuditLogEntry.from_state, AuditLogEntry.to_state)
            .where(AuditLogEntry.customer_id == customer_id)
            .order_by(AuditLogEntry.id))
        return [(a, b) for a, b in rows.all()]


async def recorded_event(resources: Resources, event_id: str) -> WebhookEvent | None:
    async with session_scope(resources.sessionmaker) as session:
        return await session.get(WebhookEvent, event_id)


async def count_events(resources: Resources, event_id: str) -> int:
    async with session_scope(resources.sessionmaker) as session:
        return int(await session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.id == event_id)) or 0)


async def set_state(resources: Resources, customer_id: uuid.UUID, state: AccountState,
                    **fields: Any) -> None:
    async with session_scope(resources.sessionmaker) as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        customer.state = state
        for name, value in fields.items():
            setattr(customer, name, value)


# -- event objects for a linked customer ---------------------------------------------

def invoice_for(customer: LinkedCustomer, status: str = "open", created: int = T0,
                **fields: Any) -> dict[str, Any]:
    fields.setdefault("id", unique("in"))
    inv = stripe_object("invoice", customer=customer.stripe_customer_id, status=status,
                        created=created, **fields)
    inv["status_transitions"] = {"finalized_at": created, "marked_uncollectible_at": None,
                                 "paid_at": created if status == "paid" else None,
                                 "voided_at": None}
    return inv


def subscription_for(customer: LinkedCustomer, status: str = "active",
                     period: tuple[int, int] = (T0, T0 + 30 * 86400)) -> dict[str, Any]:
    sub = stripe_object("subscription", id=customer.stripe_subscription_id,
                        customer=customer.stripe_customer_id, status=status)
    item_template = sub["items"]["data"][0]
    items = []
    for item_id in customer.stripe_item_ids:
        item = json.loads(json.dumps(item_template))
        item.update(id=item_id, subscription=customer.stripe_subscription_id,
                    current_period_start=period[0], current_period_end=period[1])
        items.append(item)
    sub["items"]["data"] = items
    return sub


def charge_for(customer: LinkedCustomer, refunded: bool = True) -> dict[str, Any]:
    """The customer's licensing charge (refunded in full or in part)."""
    return stripe_object("charge", id=customer.paid_charge_id or unique("ch"),
                         payment_intent=customer.paid_intent_id,
                         customer=customer.stripe_customer_id,
                         refunded=refunded, amount=1000, amount_refunded=1000 if refunded else 100)


def now() -> int:
    return int(time.time())


@asynccontextmanager
async def fail_first_audit_insert(database_url: str) -> AsyncIterator[None]:
    """The next audit_log insert fails inside PostgreSQL (once), rolling back its transaction."""
    name = f"fault_{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SEQUENCE {name}_seq"))
        await connection.execute(text(
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
            f"IF nextval('{name}_seq') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF; "
            f"RETURN NEW; END $$ LANGUAGE plpgsql"))
        await connection.execute(text(
            f"CREATE TRIGGER {name} BEFORE INSERT ON audit_log "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"))
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TRIGGER {name} ON audit_log"))
            await connection.execute(text(f"DROP FUNCTION {name}()"))
            await connection.execute(text(f"DROP SEQUENCE {name}_seq"))
        await engine.dispose()
