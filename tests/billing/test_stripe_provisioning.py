"""`customers create` with billing on: Stripe customer + subscription + local rows + key,
re-runnable after a crash at any step without duplicates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.errors import StripeUnavailable
from licensing_api.billing.models import Subscription, SubscriptionItem, SubscriptionItemKind
from licensing_api.billing.service import PlanNotSynced
from licensing_api.billing.stripe_client import MAX_NETWORK_RETRIES
from licensing_api.billing.stripe_provisioning import provision_stripe_customer
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from licensing_api.keys.service import is_well_formed
from tests.billing.stripe_setup import unique_email


class SimulatedCrash(Exception):
    """The process dies after Stripe answered, before the local transaction commits."""


async def provision(resources, email, spec):  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        return await provision_stripe_customer(session, resources.stripe, email, spec)


async def local_counts(resources, email) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        customers = select(Customer.id).where(Customer.email == email)
        subscriptions = select(Subscription.id).where(Subscription.customer_id.in_(customers))
        return (
            await session.scalar(select(func.count()).select_from(customers.subquery())),
            await session.scalar(select(func.count()).select_from(subscriptions.subquery())),
            await session.scalar(select(func.count(SubscriptionItem.id)).where(
                SubscriptionItem.subscription_id.in_(subscriptions))),
            await session.scalar(select(func.count(ApiKey.id)).where(ApiKey.customer_id.in_(customers))),
        )


def stripe_counts(stripe_client, email) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    customers = stripe_client.v1.customers.list({"email": email}).data
    subscriptions = [s for c in customers
                     for s in stripe_client.v1.subscriptions.list({"customer": c.id, "status": "all"}).data]
    return len(customers), len(subscriptions)


async def test_provisioning_creates_stripe_customer_subscription_local_rows_and_first_key(
    billing_resources, standard, stripe_client
):
    email = unique_email()
    provisioned = await provision(billing_resources, email, standard)

    customer = stripe_client.v1.customers.retrieve(provisioned.customer.stripe_customer_id)
    assert customer.email == email
    subscription = stripe_client.v1.subscriptions.retrieve(provisioned.subscription.stripe_subscription_id)
    assert subscription.customer == customer.id
    stripe_items = {item.id: item for item in subscription["items"].data}
    assert len(stripe_items) == 2
    assert provisioned.customer.state == AccountState.ACTIVE
    assert is_well_formed(provisioned.first_key.secret)
    async with session_scope(billing_resources.sessionmaker) as session:
        items = list(await session.scalars(select(SubscriptionItem).where(
            SubscriptionItem.subscription_id == provisioned.subscription.id)))
    assert {i.stripe_subscription_item_id for i in items} == set(stripe_items)
    for item in items:
        stripe_item = stripe_items[item.stripe_subscription_item_id]
        assert item.stripe_price_id == stripe_item.price.id
        assert int(item.current_period_start.timestamp()) == stripe_item.current_period_start
        assert int(item.current_period_end.timestamp()) == stripe_item.current_period_end
    metered = next(i for i in items if i.kind == SubscriptionItemKind.METERED)
    assert metered.meter_event_name == standard.meter_event_name
    assert provisioned.usage_item.id == metered.id


async def test_running_it_again_creates_nothing_new(billing_resources, standard, stripe_client):
    email = unique_email()
    first = await provision(billing_resources, email, standard)
    second = await provision(billing_resources, email, standard)

    assert second.customer.id == first.customer.id and second.first_key is None
    assert stripe_counts(stripe_client, email) == (1, 1)
    assert await local_counts(billing_resources, email) == (1, 1, 2, 1)


FAULTS = {
    "customer create lost after Stripe recorded it": [
        ("POST", "/v1/customers", "commit_then_fail", 1, {"then": "drop"}),
        ("POST", "/v1/customers", "drop", MAX_NETWORK_RETRIES, {}),
    ],
    "subscription create never reached Stripe": [
        ("POST", "/v1/subscriptions", "drop", MAX_NETWORK_RETRIES + 1, {}),
    ],
    "subscription create lost after Stripe recorded it": [
        ("POST", "/v1/subscriptions", "commit_then_fail", 1, {"then": "drop"}),
        ("POST", "/v1/subscriptions", "drop", MAX_NETWORK_RETRIES, {}),
    ],
    "Stripe answering 500 on subscription create": [
        ("POST", "/v1/subscriptions", "error", MAX_NETWORK_RETRIES + 1, {}),
    ],
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
async def test_a_rerun_after_a_failed_stripe_call_leaves_exactly_one_of_everything(
    billing_resources, standard, stripe_server, stripe_client, faults
):
    email = unique_email()
    for method, path, kind, count, params in faults:
        stripe_server.inject_fault(method, path, kind, count, **params)
    try:
        with pytest.raises(StripeUnavailable):
            await provision(billing_resources, email, standard)
    finally:
        stripe_server.clear_faults()

    provisioned = await provision(billing_resources, email, standard)

    assert is_well_formed(provisioned.first_key.secret)
    assert stripe_counts(stripe_client, email) == (1, 1)
    assert await local_counts(billing_resources, email) == (1, 1, 2, 1)


async def test_a_rerun_after_a_crash_before_the_local_commit_reuses_the_stripe_objects(
    billing_resources, standard, stripe_client
):
    email = unique_email()
    with pytest.raises(SimulatedCrash):
        async with session_scope(billing_resources.sessionmaker) as session:
            await provision_stripe_customer(session, billing_resources.stripe, email, standard)
            raise SimulatedCrash
    assert await local_counts(billing_resources, email) == (0, 0, 0, 0)

    await provision(billing_resources, email, standard)

    assert stripe_counts(stripe_client, email) == (1, 1)
    assert await local_counts(billing_resources, email) == (1, 1, 2, 1)


async def test_a_plan_not_synced_yet_is_refused_before_calling_stripe(billing_resources, catalogue, plan_ids):
    with pytest.raises(PlanNotSynced, match="plans sync"):
        await provision(billing_resources, unique_email(), catalogue.get(plan_ids["premium"]))


async def test_fixed_and_metered_plans_get_one_item_each(billing_resources, catalogue, plan_ids, stripe_client):
    for bundled_id, kind in (("starter", SubscriptionItemKind.BASE), ("pay-per-crawl-eur", SubscriptionItemKind.METERED)):
        spec = catalogue.get(plan_ids[bundled_id])
        await sync_catalogue(billing_resources, billing_resources.stripe, plans=[spec])
        provisioned = await provision(billing_resources, unique_email(), spec)
        subscription = stripe_client.v1.subscriptions.retrieve(provisioned.subscription.stripe_subscription_id)
        assert len(subscription["items"].data) == 1
        assert provisioned.usage_item.kind == kind


async def test_a_rerun_after_the_customer_was_deleted_in_stripe_creates_afresh(
    billing_resources, standard, stripe_client
):
    # Same email and plan: idempotency keys from the parameters alone would make Stripe
    # replay the deleted customer and its subscription for 24 hours.
    email = unique_email()
    first = await provision(billing_resources, email, standard)
    stripe_client.v1.customers.delete(first.customer.stripe_customer_id)
    async with session_scope(billing_resources.sessionmaker) as session:  # what customer.deleted does
        (await session.get(Customer, first.customer.id)).state = AccountState.REVOKED

    second = await provision(billing_resources, email, standard)

    assert second.customer.id != first.customer.id
    assert second.customer.stripe_customer_id != first.customer.stripe_customer_id
    assert not getattr(stripe_client.v1.customers.retrieve(second.customer.stripe_customer_id), "deleted", False)
    assert second.subscription.stripe_subscription_id != first.subscription.stripe_subscription_id
    assert is_well_formed(second.first_key.secret)


async def test_a_rerun_after_an_abandoned_attempt_whose_customer_was_deleted_creates_afresh(
    billing_resources, standard, stripe_server, stripe_client
):
    email = unique_email()
    stripe_server.inject_fault("POST", "/v1/subscriptions", "error", MAX_NETWORK_RETRIES + 1)
    try:
        with pytest.raises(StripeUnavailable):
            await provision(billing_resources, email, standard)
    finally:
        stripe_server.clear_faults()
    (half_made,) = stripe_client.v1.customers.list({"email": email}).data
    stripe_client.v1.customers.delete(half_made.id)  # the operator cleans up

    provisioned = await provision(billing_resources, email, standard)

    assert provisioned.customer.stripe_customer_id != half_made.id
    assert stripe_counts(stripe_client, email) == (1, 1)  # deleted customers are not listed
    assert await local_counts(billing_resources, email) == (1, 1, 2, 1)


async def test_the_same_email_on_another_plan_is_refused_not_a_second_customer(
    billing_resources, standard, catalogue, plan_ids, stripe_client
):
    from licensing_api.billing.provisioning import EmailOnAnotherPlan

    email = unique_email()
    first = await provision(billing_resources, email, standard)
    await sync_catalogue(billing_resources, billing_resources.stripe)

    with pytest.raises(EmailOnAnotherPlan, match=f"already customer {first.customer.id}"):
        await provision(billing_resources, email, catalogue.get(plan_ids["premium"]))
    assert stripe_counts(stripe_client, email) == (1, 1)
