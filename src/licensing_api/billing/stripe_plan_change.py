"""The Stripe side of a plan change: the calls, nothing local.

- `now`: the base price is swapped in place and the new plan's metered price added, with
  `proration_behavior=always_invoice` at a `proration_date` the service chose (so its
  estimate and Stripe's invoice use the same second). The old plan's metered item stays until
  the period end, so usage of the old plan that is still on its way is billed on it; it is
  removed once the next period has started (`retire_ended_items`, without prorations).
- `period_end`: a subscription schedule (created `from_subscription`, or the existing one)
  gets two phases: the current items until the period end, then the new plan's items.
- Stripe's "now" is the customer's test clock when it has one (Stripe test mode).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import stripe

from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.billing.service import subscription_items
from licensing_api.billing.stripe_client import field, idempotency_key
from licensing_api.billing.subscription_mirror import StripeObject, from_timestamp, price_of, stripe_items
from licensing_api.db import utcnow


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else field(value, "id")


async def stripe_now(client: stripe.StripeClient, stripe_customer_id: str) -> datetime:
    """The time as Stripe sees it for this customer, to the second."""
    with translate_stripe_errors("customers.retrieve"):
        customer = await client.v1.customers.retrieve_async(stripe_customer_id)
    clock_id = _id(field(customer, "test_clock"))
    if clock_id is None:
        return utcnow().replace(microsecond=0)
    with translate_stripe_errors("test_helpers.test_clocks.retrieve"):
        clock = await client.v1.test_helpers.test_clocks.retrieve_async(clock_id)
    return from_timestamp(clock.frozen_time)


async def retrieve_subscription(client: stripe.StripeClient, stripe_subscription_id: str) -> StripeObject:
    with translate_stripe_errors("subscriptions.retrieve"):
        subscription = await client.v1.subscriptions.retrieve_async(stripe_subscription_id)
    return subscription.to_dict()  # type: ignore[no-any-return]


async def release_schedule(client: stripe.StripeClient, schedule_id: str) -> None:
    """Drop a waiting change: the subscription keeps its current items."""
    with translate_stripe_errors("subscription_schedules.release"):
        schedule = await client.v1.subscription_schedules.retrieve_async(schedule_id)
        if schedule.status in ("active", "not_started"):
            await client.v1.subscription_schedules.release_async(schedule_id)


async def switch_items_now(
    client: stripe.StripeClient, subscription: Subscription, old: Plan, new: Plan, at: datetime,
) -> StripeObject:
    """Move the Stripe subscription to `new`'s prices at `at`, invoicing the prorations."""
    stripe_id = str(subscription.stripe_subscription_id)
    current = await retrieve_subscription(client, stripe_id)
    schedule = _id(current.get("schedule"))
    if schedule:
        await release_schedule(client, schedule)
    on_subscription = {str(price_of(item).get("id")): item for item in stripe_items(current)}
    changes: list[dict[str, Any]] = []
    base = on_subscription.get(str(old.stripe_base_price_id)) if old.stripe_base_price_id else None
    if base is not None and new.stripe_base_price_id:
        changes.append({"id": base["id"], "price": new.stripe_base_price_id, "quantity": 1})
    elif base is not None:
        changes.append({"id": base["id"], "deleted": True})
    elif new.stripe_base_price_id and new.stripe_base_price_id not in on_subscription:
        changes.append({"price": new.stripe_base_price_id, "quantity": 1})
    if new.stripe_metered_price_id and new.stripe_metered_price_id not in on_subscription:
        changes.append({"price": new.stripe_metered_price_id})
    params = {"items": changes, "proration_behavior": "always_invoice",
              "proration_date": int(at.timestamp())}
    with translate_stripe_errors("subscriptions.update"):
        updated = await client.v1.subscriptions.update_async(
            stripe_id, params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key("plan-now", {"subscription": stripe_id, **params})},
        )
    return updated.to_dict()  # type: ignore[no-any-return]


async def schedule_at_period_end(
    client: stripe.StripeClient, subscription: Subscription, new: Plan,
) -> tuple[str, datetime]:
    """Schedule `new`'s items from the current period's end; (schedule id, effective at)."""
    stripe_id = str(subscription.stripe_subscription_id)
    current = await retrieve_subscription(client, stripe_id)
    schedule_id = _id(current.get("schedule"))
    with translate_stripe_errors("subscription_schedules.create"):
        if schedule_id is None:
            schedule_id = (await client.v1.subscription_schedules.create_async(
                {"from_subscription": stripe_id},
                {"idempotency_key": idempotency_key("schedule", {
                    "subscription": stripe_id, "period": subscription.current_period_start})},
            )).id
        schedule = await client.v1.subscription_schedules.retrieve_async(schedule_id)
    phase_start = field(field(schedule, "current_phase"), "start_date") or schedule.phases[0].start_date
    phase = next(ph for ph in schedule.phases if ph.start_date == phase_start)
    keep = [{"price": _id(item.price), **({"quantity": item.quantity} if item.quantity else {})}
            for item in phase["items"]]
    phases = [
        {"start_date": phase.start_date, "end_date": phase.end_date, "items": keep},
        {"items": subscription_items(new), "duration": {"interval": new.interval, "interval_count": 1}},
    ]
    with translate_stripe_errors("subscription_schedules.update"):
        await client.v1.subscription_schedules.update_async(
            schedule_id, {"phases": phases, "end_behavior": "release"})  # type: ignore[typeddict-item]
    return schedule_id, from_timestamp(phase.end_date)


async def retire_ended_items(
    client: stripe.StripeClient, subscription: Subscription, items: list[SubscriptionItem],
    obj: StripeObject,
) -> list[str]:
    """Remove from Stripe the items this service ended in an earlier period (an old plan's
    metered item kept for late usage) once a new period has started; no prorations."""
    if obj.get("status") in ("canceled", "incomplete_expired"):
        return []
    listed = {item.get("id"): item for item in stripe_items(obj)}
    doomed = []
    for row in items:
        stripe_item = listed.get(row.stripe_subscription_item_id)
        if row.ended_at is None or stripe_item is None:
            continue
        start = stripe_item.get("current_period_start")
        if start and from_timestamp(start) >= row.ended_at:
            doomed.append(str(row.stripe_subscription_item_id))
    if not doomed:
        return []
    params = {"items": [{"id": item_id, "deleted": True} for item_id in doomed],
              "proration_behavior": "none"}
    stripe_id = str(subscription.stripe_subscription_id)
    with translate_stripe_errors("subscriptions.update"):
        await client.v1.subscriptions.update_async(
            stripe_id, params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key("retire", {"subscription": stripe_id, **params})},
        )
    return doomed
