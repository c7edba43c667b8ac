"""The per-key token bucket: a burst of the plan's rate, then that rate, with Retry-After."""

from licensing_api.access.ratelimit import KeyRateLimiter


def test_a_key_may_burst_its_rate_then_waits():
    limiter = KeyRateLimiter()
    results = [limiter.acquire("key", 5, 100.0) for _ in range(7)]
    assert results == [0, 0, 0, 0, 0, 1, 1]


def test_tokens_come_back_at_the_plans_rate():
    limiter = KeyRateLimiter()
    for _ in range(2):
        limiter.acquire("key", 2, 100.0)
    assert limiter.acquire("key", 2, 100.2) == 1  # 0.4 of a token so far
    assert limiter.acquire("key", 2, 100.5) == 0  # one full token after half a second
    assert limiter.acquire("key", 2, 100.5) == 1


def test_retry_after_rounds_the_wait_for_a_token_up_to_whole_seconds():
    limiter = KeyRateLimiter()
    limiter.acquire("slow", 1, 100.0)
    assert limiter.acquire("slow", 1, 100.5) == 1  # half a token: 0.5 s → 1


def test_keys_have_separate_buckets():
    limiter = KeyRateLimiter()
    assert limiter.acquire("a", 1, 100.0) == 0
    assert limiter.acquire("a", 1, 100.0) == 1
    assert limiter.acquire("b", 1, 100.0) == 0
