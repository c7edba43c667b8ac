"""Request metrics counted in plain integers and published by a collector, across workers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from licensing_api.observability.request_metrics import (
    CounterSlots,
    RequestCounters,
    RequestMetricsCollector,
)


def samples(counters: RequestCounters) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(RequestMetricsCollector(counters))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_requests_latency_and_crawlers_are_published_as_prometheus_families():
    counters = RequestCounters(None)
    counters.observe("/v1/content/{path:path}", 200, 0.004, "GPTBot")
    counters.observe("/v1/content/{path:path}", 200, 0.0005, None)
    counters.observe("/v1/content/{path:path}", 402, 0.02, "GPTBot")
    got = samples(counters)
    route = ("route", "/v1/content/{path:path}")
    assert got["licensing_http_requests_total", (route, ("status", "200"))] == 2
    assert got["licensing_http_requests_total", (route, ("status", "402"))] == 1
    assert got["licensing_http_request_duration_seconds_bucket", (("le", "0.001"), route)] == 1
    assert got["licensing_http_request_duration_seconds_bucket", (("le", "0.005"), route)] == 2
    assert got["licensing_http_request_duration_seconds_bucket", (("le", "+Inf"), route)] == 3
    assert got["licensing_http_request_duration_seconds_count", (route,)] == 3
    assert abs(got["licensing_http_request_duration_seconds_sum", (route,)] - 0.0245) < 1e-6
    assert got["licensing_crawler_requests_total", (("crawler", "GPTBot"), ("outcome", "served"))] == 1
    assert got["licensing_crawler_requests_total", (("crawler", "GPTBot"), ("outcome", "payment_required"))] == 1


def test_a_bucket_bound_is_inclusive():
    counters = RequestCounters(None)
    counters.observe("/healthz", 200, 0.001, None)
    got = samples(counters)
    assert got["licensing_http_request_duration_seconds_bucket", (("le", "0.001"), ("route", "/healthz"))] == 1


def test_workers_sharing_a_folder_add_up_at_once(tmp_path):
    one, two = RequestCounters(tmp_path, worker=1), RequestCounters(tmp_path, worker=2)
    for _ in range(3):
        one.observe("/healthz", 200, 0.001, None)
    two.observe("/healthz", 200, 0.001, None)
    two.observe("/metrics", 200, 0.001, None)
    for counters in (one, two):  # whichever worker answers the scrape
        got = samples(counters)
        assert got["licensing_http_requests_total", (("route", "/healthz"), ("status", "200"))] == 4
        assert got["licensing_http_requests_total", (("route", "/metrics"), ("status", "200"))] == 1
    one.observe("/healthz", 200, 0.001, None)  # no publishing step: the next scrape sees it
    assert samples(two)["licensing_http_requests_total", (("route", "/healthz"), ("status", "200"))] == 5


def test_series_beyond_the_capacity_count_into_the_overflow_slot():
    slots = CounterSlots(None, capacity=3)
    first = slots.allocate(("requests", "/a", "200"))
    assert slots.allocate(("duration", "/a"), width=14) == slots.overflow
    assert first != slots.overflow
