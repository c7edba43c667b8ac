"""Advancing a Stripe test clock and waiting until it is `ready` again.

Stripe advances a clock asynchronously (`advancing`, then `ready` once every renewal, invoice
and webhook of the jump is done); tests wait for `ready` rather than assume the advance call
returns after the work.
"""

from __future__ import annotations

import time

import stripe

READY_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.02


def advance_clock(client: stripe.StripeClient, clock_id: str, frozen_time: int,
                  timeout: float = READY_TIMEOUT_SECONDS) -> None:
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": frozen_time})
    deadline = time.monotonic() + timeout
    while True:
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready" and clock.frozen_time == frozen_time:
            return
        if clock.status == "internal_failure" or time.monotonic() > deadline:
            raise AssertionError(f"test clock {clock_id} is {clock.status} at {clock.frozen_time}, "
                                 f"not ready at {frozen_time}")
        time.sleep(POLL_SECONDS)
