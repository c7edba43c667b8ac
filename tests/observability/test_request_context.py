"""Every request gets an id (X-Request-ID in and out) and one JSON access-log line."""

from __future__ import annotations

import logging


async def test_a_request_id_is_generated_and_returned(client):
    response = await client.get("/healthz")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert (await client.get("/healthz")).headers["x-request-id"] != request_id


async def test_an_incoming_request_id_is_echoed(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert response.headers["x-request-id"] == "lb-7f3a.42"


async def test_an_unsafe_incoming_request_id_is_replaced(client):
    forged = 'abc" , "level": "error'
    response = await client.get("/healthz", headers={"X-Request-ID": forged})
    assert response.headers["x-request-id"] != forged
    assert len(response.headers["x-request-id"]) == 32


async def test_each_request_writes_one_json_access_log_line_with_its_id(client, captured_logs):
    response = await client.get("/healthz?verbose=1", headers={"User-Agent": "GPTBot/1.0"})
    access = await captured_logs.access_lines()
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"  # never the query string
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert line["user_agent"] == "GPTBot/1.0"
    assert line["duration_ms"] >= 0


async def test_log_lines_written_while_handling_a_request_carry_its_id(client, captured_logs):
    # The access line carries the request's id although it is written after the answer.
    response = await client.get("/no/such/route", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 404
    assert len(await captured_logs.access_lines()) == 1
    ids = {e.get("request_id") for e in captured_logs.entries() if e["logger"].startswith("licensing_api")}
    assert ids == {"req-1"}


def test_lines_outside_a_request_have_no_request_id(captured_logs):
    logging.getLogger("licensing_api.test").info("started", extra={"workers": 2})
    (entry,) = captured_logs.entries()
    assert entry["event"] == "started"
    assert entry["workers"] == 2
    assert "request_id" not in entry
