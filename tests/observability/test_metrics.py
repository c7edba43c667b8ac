"""`/metrics` exposes the service's metrics in Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_metrics_are_served_in_prometheus_text_format(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"licensing_http_requests", "licensing_usage_units_tallied", "licensing_stripe_calls",
            "licensing_webhook_events", "licensing_usage_flush_duration_seconds"} <= names


async def test_requests_are_counted_by_route_template_and_status(client):
    before = (await client.get("/metrics")).text
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/no/such/route")
    after = (await client.get("/metrics")).text
    name = "licensing_http_requests_total"
    assert _sample(after, name, route="/healthz", status="200") - _sample(before, name, route="/healthz", status="200") == 2
    assert _sample(after, name, route="unmatched", status="404") - _sample(before, name, route="unmatched", status="404") == 1


async def test_request_durations_are_observed_per_route(client):
    before = (await client.get("/metrics")).text
    await client.get("/healthz")
    after = (await client.get("/metrics")).text
    name = "licensing_http_request_duration_seconds_count"
    assert _sample(after, name, route="/healthz") - _sample(before, name, route="/healthz") == 1


async def test_framework_pages_are_labelled_by_their_path_not_as_unmatched(client):
    before = (await client.get("/metrics")).text
    await client.get("/openapi.json")
    after = (await client.get("/metrics")).text
    name = "licensing_http_requests_total"
    assert _sample(after, name, route="/openapi.json", status="200") - _sample(before, name, route="/openapi.json", status="200") == 1
