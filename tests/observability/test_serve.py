"""`licensing-api serve` as operators and the container run it (real processes)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from licensing_api.usage.redis_keys import period_totals, shard_of
from tests.observability.serving import serving


def _worker_pids(log: str) -> set[str]:
    pids = set()
    for line in log.splitlines():
        if "Started server process" in line:
            pids.add(line.split("[")[-1].split("]")[0])
    return pids


def test_serve_on_embedded_defaults_answers_health_and_docs(tmp_path):
    # The container's start command, with no settings at all: SQLite in ./var, memory:// Redis.
    with serving({}, tmp_path) as server:
        server.wait_ready()
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(server.url + "/readyz").status_code == 200
        docs = httpx.get(server.url + "/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        server.terminate()
    assert (tmp_path / "var" / "licensing.db").exists()


def test_web_concurrency_2_starts_two_workers_whose_metrics_add_up(settings, tmp_path):
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "REDIS_KEY_PREFIX": settings.redis_key_prefix, "WEB_CONCURRENCY": "2"}
    with serving(env, tmp_path, "--no-migrate") as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url) as http:
            # New connections, eight at a time: while one worker is busy accepting, the other
            # takes some (one connection after another can all land on one worker under load).
            def probe(_: int) -> int:
                return httpx.get(server.url + "/healthz", headers={"Connection": "close"}).status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                assert set(pool.map(probe, range(80))) == {200}
            families = text_string_to_metric_families(http.get("/metrics").text)
        counted = sum(
            s.value for f in families for s in f.samples
            if s.name == "licensing_http_requests_total" and s.labels.get("route") == "/healthz"
        )
        server.terminate()
    assert len(_worker_pids(server.log)) == 2, server.log
    served = [json.loads(line) for line in server.log.splitlines()
              if line.startswith("{") and '"route": "/healthz"' in line]
    assert len({line["pid"] for line in served}) == 2  # both workers answered some
    assert counted == len(served)  # every worker's requests, not just the one asked for /metrics


async def test_sigterm_drains_in_flight_requests_and_flushes_tallies(settings, resources, tmp_path):
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await provision_local_customer(
            session, f"drain-{uuid.uuid4().hex[:6]}@example.com", resources.catalogue.get("standard")
        )
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "REDIS_KEY_PREFIX": settings.redis_key_prefix, "TALLY_FLUSH_INTERVAL_MS": "5000",
           "USAGE_FLUSH_INTERVAL_SECONDS": "1"}
    served, reply, log = await asyncio.to_thread(
        _serve_then_sigterm_mid_request, env, tmp_path, provisioned.first_key.secret
    )
    assert reply.startswith(b"HTTP/1.1 "), reply  # answered, not cut off
    assert _period_units(settings, provisioned.usage_item.id) == served  # the final tally move
    _assert_shutdown_order(log)


def _assert_shutdown_order(log: str) -> None:
    """Each worker that took the flusher lock: last tally moved, then lock released, then exit."""
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    holders = {e["pid"] for e in events if e["event"] == "usage_flusher_lock_acquired"}
    assert holders, "no worker took the flusher lock"
    for pid in holders:
        order = [e["event"] for e in events if e["pid"] == pid]
        assert "usage_flusher_lock_released" in order, order
        assert order.index("usage_tally_moved_at_shutdown") < order.index("usage_flusher_lock_released")
        assert order.index("usage_flusher_lock_released") < order.index("Application shutdown complete.")


def _serve_then_sigterm_mid_request(env, cwd, secret) -> tuple[int, bytes, str]:
    with serving(env, cwd, "--no-migrate", "--workers", "2") as server:
        server.wait_ready()
        headers = {"Authorization": f"Bearer {secret}", "Connection": "close"}
        served = 0
        for _ in range(30):
            response = httpx.get(server.url + "/v1/content", headers=headers)
            assert response.status_code == 200, response.text
            served += 1
        deadline = time.monotonic() + 15  # a worker takes the flusher lock after one interval
        while "usage_flusher_lock_acquired" not in server.log and time.monotonic() < deadline:
            time.sleep(0.1)
        # A request still arriving when SIGTERM comes: its body is only half sent.
        in_flight = socket.create_connection(("127.0.0.1", server.port))
        body = json.dumps({"id": "evt_drain", "type": "ping"}).encode()
        in_flight.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                          + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:5])
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        in_flight.sendall(body[5:])
        in_flight.settimeout(10)
        reply = in_flight.recv(200)
        in_flight.close()
        server.assert_clean_exit()
        return served, reply, server.log


def _period_units(settings, item_id) -> int:
    redis = Redis.from_url(settings.redis_url)
    try:
        totals = redis.hgetall(settings.redis_key_prefix + period_totals(shard_of(item_id)))
    finally:
        redis.close()
    return sum(int(v) for k, v in totals.items() if k.decode().startswith(f"{item_id}:"))
