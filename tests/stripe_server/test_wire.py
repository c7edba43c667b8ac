"""Wire format: nested params, idempotency, pagination, errors."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_server.helpers import metered_plan, unique
from tests.stripe_server.wire import parse_form


def test_parse_form_builds_nested_lists_and_dicts():
    raw = ("items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3&metadata[k]=v"
           "&expand[]=a&expand[]=b&tiers[1][up_to]=inf&tiers[0][up_to]=10")
    assert parse_form(raw) == {
        "items": [{"price": "p1"}, {"price": "p2", "quantity": "3"}],
        "metadata": {"k": "v"}, "expand": ["a", "b"],
        "tiers": [{"up_to": "10"}, {"up_to": "inf"}]}


def test_tiers_and_metadata_round_trip_through_the_sdk(stripe_client):
    plan = metered_plan(stripe_client)
    price = stripe_client.v1.prices.retrieve(plan["metered"].id, {"expand": ["tiers"]})
    assert [(t.up_to, str(t.unit_amount_decimal)) for t in price.tiers] == [(1000, "0"), (None, "0.1")]
    assert price.recurring.meter == plan["meter"].id
    assert "tiers" not in stripe_client.v1.prices.retrieve(price.id)  # like Stripe: expand only
    cus = stripe_client.v1.customers.create({"metadata": {"a": "1", "b": "2"}})
    cus = stripe_client.v1.customers.update(cus.id, {"metadata": {"a": ""}})
    assert cus.metadata.to_dict() == {"b": "2"}


def test_subscription_items_round_trip(stripe_client):
    plan = metered_plan(stripe_client)
    cus = stripe_client.v1.customers.create({"payment_method": "pm_card_visa",
                                             "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = stripe_client.v1.subscriptions.create({
        "customer": cus.id, "items": [{"price": plan["base"].id, "quantity": 2},
                                      {"price": plan["metered"].id}]})
    prices = {it.price.id: it for it in sub["items"].data}
    assert prices[plan["base"].id].quantity == 2
    assert "quantity" not in prices[plan["metered"].id]
    assert sub.status == "active"


def test_same_idempotency_key_replays_the_stored_response(stripe_client):
    key = unique("idem")
    a = stripe_client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": key})
    b = stripe_client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": key})
    assert a.id == b.id
    assert b.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": key})


def test_list_pagination_with_starting_after(stripe_client):
    tag = unique("page")
    made = [stripe_client.v1.customers.create({"email": f"{tag}-{i}@example.com"}).id for i in range(5)]
    page = stripe_client.v1.customers.list({"limit": 2})
    assert page.has_more and [c.id for c in page.data] == made[::-1][:2]
    nxt = stripe_client.v1.customers.list({"limit": 2, "starting_after": page.data[-1].id})
    assert [c.id for c in nxt.data] == made[::-1][2:4]
    seen = [c.id for c in stripe_client.v1.customers.list({"limit": 3}).auto_paging_iter()]
    assert set(made) <= set(seen)


def test_unknown_object_and_parameter_errors(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v1.customers.retrieve("cus_missing")
    assert err.value.http_status == 404 and err.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe_client.v1.customers.create({"nonsense": "1"})  # type: ignore[typeddict-unknown-key]
    assert err.value.param == "nonsense"


def test_prices_are_immutable_except_metadata_active_lookup_key(stripe_client):
    plan = metered_plan(stripe_client)
    key = unique("lk")
    stripe_client.v1.prices.update(plan["base"].id, {"lookup_key": key, "active": False})
    found = stripe_client.v1.prices.list({"lookup_keys": [key]})
    assert [p.id for p in found.data] == [plan["base"].id] and not found.data[0].active
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.prices.update(plan["base"].id, {"unit_amount": 5})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.prices.create({"currency": "usd", "product": plan["product"].id,
                                        "unit_amount": 1, "lookup_key": key})
    moved = stripe_client.v1.prices.create({"currency": "usd", "product": plan["product"].id,
                                            "unit_amount": 1, "lookup_key": key,
                                            "transfer_lookup_key": True})
    assert [p.id for p in stripe_client.v1.prices.list({"lookup_keys": [key]}).data] == [moved.id]


async def test_async_client_works(stripe_server):
    client = stripe_server.stripe_client()
    cus = await client.v1.customers.create_async({"email": "async@example.com"})
    again = await client.v1.customers.retrieve_async(cus.id)
    assert again.email == "async@example.com"
