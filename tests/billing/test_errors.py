"""Stripe failures become the service's own problems: retryable or permanent."""

from __future__ import annotations

import pytest

from licensing_api.billing.errors import StripeRejected, StripeUnavailable, translate_stripe_errors
from licensing_api.billing.stripe_client import MAX_NETWORK_RETRIES
from tests.billing.stripe_setup import unique_email


@pytest.fixture(autouse=True)
def no_faults_left_behind(stripe_server):
    yield
    stripe_server.clear_faults()


async def create_customer(resources):  # type: ignore[no-untyped-def]
    with translate_stripe_errors("customers.create"):
        return await resources.stripe.v1.customers.create_async({"email": unique_email()})


async def test_dropped_connections_beyond_the_sdk_retries_are_unavailable(billing_resources, stripe_server):
    stripe_server.inject_fault("POST", "/v1/customers", "drop", MAX_NETWORK_RETRIES + 1)

    with pytest.raises(StripeUnavailable) as raised:
        await create_customer(billing_resources)

    assert raised.value.retryable and raised.value.status == 503
    assert raised.value.to_problem()["operation"] == "customers.create"


async def test_a_server_error_is_retried_by_the_sdk_and_then_succeeds(billing_resources, stripe_server):
    stripe_server.inject_fault("POST", "/v1/customers", "error", MAX_NETWORK_RETRIES)

    customer = await create_customer(billing_resources)

    assert customer.id.startswith("cus_")


async def test_rate_limiting_is_unavailable_with_stripes_retry_after(billing_resources, stripe_server):
    stripe_server.inject_fault("POST", "/v1/customers", "rate_limit", 1, retry_after=7)

    with pytest.raises(StripeUnavailable) as raised:
        await create_customer(billing_resources)

    assert raised.value.headers["Retry-After"] == "7"
    assert raised.value.stripe_status == 429


async def test_an_invalid_request_is_rejected_for_good(billing_resources):
    with pytest.raises(StripeRejected) as raised:
        with translate_stripe_errors("customers.retrieve"):
            await billing_resources.stripe.v1.customers.retrieve_async("cus_doesnotexist")

    assert not raised.value.retryable
    assert (raised.value.status, raised.value.stripe_status) == (502, 404)
    assert raised.value.stripe_code == "resource_missing"
    assert raised.value.request_id
