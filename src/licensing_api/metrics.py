"""Prometheus metrics: every metric of the service is defined here, once.

Domains import the metric they update (`metrics.UNITS_TALLIED.inc(n)`); `/metrics` exposes
them. Names follow Prometheus conventions (`_total` counters, base units).

With several uvicorn workers, `serve` sets PROMETHEUS_MULTIPROC_DIR before the workers
import this module, so each process writes its values to files `/metrics` aggregates.
Counters and histograms sum across processes; a gauge says how: `mostrecent` for values only
the flusher (one process at a time) sets, so a stale copy in another worker never wins.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Counted per request in plain integers and published by a collector at scrape time
# (observability/request_metrics.py): (name, help), labels in the comment.
REQUESTS = ("licensing_http_requests_total", "HTTP requests answered")  # route, status
REQUEST_DURATION = (
    "licensing_http_request_duration_seconds",
    "time from request start to the last byte of the response",
)  # route
REQUEST_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
CRAWLER_REQUESTS = ("licensing_crawler_requests_total", "requests from known AI crawlers")  # crawler, outcome

FAILED_KEY_LOOKUPS_REFUSED = Counter(
    "licensing_failed_key_lookups_refused_total",
    "requests refused with 429 after too many failed API-key lookups from one address",
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
    "licensing_usage_reports_total", "usage report send outcomes",
    ["outcome"],  # sent|retry|failed|local|settled (found in Stripe's record)|reopened
)
USAGE_REDIS_REGRESSIONS = Counter(
    "licensing_usage_redis_regressions_total",
    "Redis usage counters found below what the ledger already holds (Redis lost writes)",
    ["counter"],  # item_period | key_day
)
USAGE_REDIS_REGRESSED_UNITS = Counter(
    "licensing_usage_redis_regressed_units_total",
    "units by which regressed item-period counters were below their watermark",
)
USAGE_REDIS_LOST_UNITS = Counter(
    "licensing_usage_redis_lost_units_total",
    "units Redis acknowledged from a worker's tally and then lost (a promoted replica, a "
    "restart without persistence): never billed",
)
USAGE_METER_ERRORS = Counter(
    "licensing_usage_meter_errors_total",
    "meter events Stripe rejected asynchronously (meter error reports)", ["code"],
)
USAGE_FLUSH_DURATION = Histogram(
    "licensing_usage_flush_duration_seconds", "duration of one flush"
)
USAGE_FLUSH_LAG = Gauge(
    "licensing_usage_flush_lag_seconds", "age of the oldest unsent usage report",
    multiprocess_mode="mostrecent",
)
USAGE_UNITS_BY_STATE = Gauge(
    "licensing_usage_units", "units by ledger state", ["state"],  # in_flight|failed
    multiprocess_mode="mostrecent",
)
STRIPE_CALLS = Counter(
    "licensing_stripe_calls_total", "Stripe API calls", ["operation", "outcome"]
)
WEBHOOK_EVENTS = Counter(
    "licensing_webhook_events_total", "Stripe webhook events", ["type", "outcome"]
)
