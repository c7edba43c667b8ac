"""The per-address limiter of failed API-key lookups (a sliding window per worker)."""

from __future__ import annotations

import pytest

from licensing_api.security.failed_lookups import FailedKeyLookupLimiter, TooManyFailedKeyLookups


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_an_address_is_refused_after_the_limit_of_failures_in_the_window(clock):
    limiter = FailedKeyLookupLimiter(limit=3, window_seconds=60, clock=clock)
    for _ in range(3):
        limiter.check("203.0.113.7")
        limiter.record_failure("203.0.113.7")
    with pytest.raises(TooManyFailedKeyLookups) as refused:
        limiter.check("203.0.113.7")
    assert refused.value.status == 429
    assert refused.value.headers["Retry-After"] == "60"


def test_other_addresses_are_not_affected(clock):
    limiter = FailedKeyLookupLimiter(limit=1, window_seconds=60, clock=clock)
    limiter.record_failure("203.0.113.7")
    limiter.check("198.51.100.1")


def test_the_window_slides_so_old_failures_stop_counting(clock):
    limiter = FailedKeyLookupLimiter(limit=2, window_seconds=60, clock=clock)
    limiter.record_failure("a")
    clock.now += 30
    limiter.record_failure("a")
    assert limiter.retry_after("a") == pytest.approx(30)
    clock.now += 30.5  # the first failure has left the window
    limiter.check("a")
    limiter.record_failure("a")
    assert limiter.retry_after("a") == pytest.approx(29.5)


def test_memory_stays_bounded_under_many_addresses(clock):
    limiter = FailedKeyLookupLimiter(limit=5, window_seconds=60, max_addresses=100, clock=clock)
    for n in range(1000):
        limiter.record_failure(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) <= 100
