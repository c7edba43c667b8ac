"""Prometheus metrics: every metric of the service is defined here, once.

Domains import the metric they update (`metrics.UNITS_TALLIED.inc(n)`); `/metrics` exposes
them. Names follow Prometheus conventions (`_total` counters, base units).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "licensing_http_requests_total", "HTTP requests answered", ["route", "status"]
)
ACCESS_CACHE_LOOKUPS = Counter(
    "licensing_access_cache_lookups_total", "API key cache lookups", ["result"]  # hit|miss|negative
)
UNITS_TALLIED = Counter(
    "licensing_usage_units_tallied_total", "units counted in worker memory"
)
UNITS_MOVED_TO_REDIS = Counter(
    "licensing_usage_units_moved_to_redis_total", "units moved from worker tallies into Redis"
)
UNITS_REPORTED = Counter(
    "licensing_usage_units_reported_total", "units acknowledged by Stripe"
)
USAGE_REPORTS = Counter(
    "licensing_usage_reports_total", "usage report send outcomes", ["outcome"]  # sent|retry|failed
)
USAGE_FLUSH_DURATION = Histogram(
    "licensing_usage_flush_duration_seconds", "duration of one flush"
)
USAGE_FLUSH_LAG = Gauge(
    "licensing_usage_flush_lag_seconds", "age of the oldest unsent usage report"
)
USAGE_UNITS_BY_STATE = Gauge(
    "licensing_usage_units", "units by ledger state", ["state"]  # pending_redis|in_flight|reported|failed
)
STRIPE_CALLS = Counter(
    "licensing_stripe_calls_total", "Stripe API calls", ["operation", "outcome"]
)
WEBHOOK_EVENTS = Counter(
    "licensing_webhook_events_total", "Stripe webhook events", ["type", "outcome"]
)
CRAWLER_REQUESTS = Counter(
    "licensing_crawler_requests_total", "requests from known AI crawlers", ["crawler", "outcome"]
)
