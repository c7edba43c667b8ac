"""A stateful, Stripe-compatible HTTP server for tests and local demos (no internet).

Run: ``python -m tests.stripe_server --port 12111 [--rate-limits off|live|test]
[--webhook-retry-seconds 1.0] [--webhook-max-attempts 4] [--meter-session-ttl 900]``.
Point the SDK at it with every base address (api, meter_events, files, connect) set to
``http://127.0.0.1:12111``; any ``sk_test_…`` key is accepted. In pytest use
:mod:`tests.stripe_server.pytest_plugin`.

Wire format: v1 form bodies with bracket nesting, ``expand[]``, list objects with
``limit``/``starting_after``/``ending_before``, Stripe's error JSON, ``Idempotency-Key``
replay (same key + same params → stored response with ``Idempotent-Replayed: true``;
same key + other params → 400 ``idempotency_error``); v2 JSON bodies.

Resources: customers, payment methods (test tokens ``pm_card_visa``,
``pm_card_chargeCustomerFail``, …), products, prices (tiers shown only with
``expand[]=tiers`` like Stripe), billing meters + event summaries, v1 meter events,
v2 meter event session + stream (validated asynchronously, errors reported by thin
events), subscriptions + items, invoices (+ pay; cycle invoices stay drafts for the
finalization grace), charges, refunds, disputes, checkout sessions, billing portal
sessions, test clocks (``advancing``, then ``ready``), events (rendered at the endpoint's
API version), webhook endpoints, v2 event destinations and v2 events.

Every request's parameters are checked against the stripe SDK's own generated parameter
types (``params_spec.py``); idempotency keys expire after 24 hours.

Control endpoints (JSON; test-only):

- ``POST /_control/reset`` – wipe all state and faults.
- ``GET|POST /_control/config`` – server settings (``routing.Config``), e.g.
  ``{"finalization_grace_seconds": 0}``.
- ``POST /_control/meter_events/validate`` – run the asynchronous meter event validation now.
- ``POST /_control/customers`` – ``{"count": N}``: N customers at once, without events
  (benchmark set-up).
- ``GET|POST|DELETE /_control/faults`` – list / add ``{"method", "path" (glob), "kind",
  "count", ...params}`` / clear. Kinds: see :mod:`.faults`.
- ``GET|POST /_control/rate_limits`` – ``{"profile": "off|live|test", "overrides": {…}}``.
- ``GET /_control/deliveries[?wait=S]`` – webhook delivery attempts (waits until idle).
- ``POST /_control/events/{evt}/redeliver`` – ``{"endpoint": id|url|null}``, one attempt.
- ``POST /_control/deliver`` – ``{"endpoint": id|url, "event_ids": [...]}`` in that order.
- ``GET /_control/meter_total?meter=&customer=&start=&end=`` – server-side aggregate (after
  validating every accepted event).
- ``GET /_control/meter_errors`` – meter events dropped by the asynchronous validation.
- ``POST /_control/checkout_sessions/{cs}/complete`` – ``{"payment_method"}``: pay as a
  buyer; creates customer + subscription, emits ``checkout.session.completed``.
- ``POST /_control/charges/{ch}/dispute`` – ``{"reason"}``: emits ``charge.dispute.created``.

Sources for the numbers used (rate limits, meter-event windows, error texts) are in the
docstrings of :mod:`.ratelimit` and :mod:`.resources.meters`.
"""
