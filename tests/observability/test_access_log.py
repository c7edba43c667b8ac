"""The access log, written off the request path: the same lines, none lost at shutdown."""

from __future__ import annotations

import io
import logging
import uuid

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.logging import REQUEST_ID, JsonFormatter
from licensing_api.main import create_app
from licensing_api.observability.access_log import EVENT, AccessLog, access_fields, writing_access_log
from tests.observability.conftest import capture_logs

SECRET_SETTING = "deployment-secret-0123456789abcdef"
API_KEY = "lk_" + "k" * 40
ENTRIES = [
    (1_767_225_599.9996, "req-1", "GET", f"/v1/content/{API_KEY}", "/v1/content/{path:path}", 200, 0.0041234,
     ("10.0.0.1", 5000), b"GPTBot/1.2"),
    (1_767_225_600.25, "0" * 32, "POST", "/webhooks/stripe", "/webhooks/stripe", 400, 0.5, None,
     f"curl/8 \u00e9 {SECRET_SETTING} \"quoted\"".encode("latin-1")),
    (1_767_225_600.5, "req-3", "GET", "/healthz", "/healthz", 200, 1e-06, ("::1", 1), b""),
]


def record_line(formatter: JsonFormatter, entry) -> str:
    """The line `logger.info(EVENT, extra=…)` wrote for this entry inside its request."""
    created, request_id, method, path, route, status, seconds, client, user_agent = entry
    record = logging.getLogger("licensing_api.access").makeRecord(
        "licensing_api.access", logging.INFO, __file__, 0, EVENT, (), None,
        extra=access_fields(method, path, route, status, seconds, client, user_agent),
    )
    record.created = created
    token = REQUEST_ID.set(request_id)
    try:
        return formatter.format(record)
    finally:
        REQUEST_ID.reset(token)


def test_batched_lines_are_the_lines_the_logging_call_gave():
    formatter = JsonFormatter((SECRET_SETTING,))
    batch = formatter.format_access_lines("licensing_api.access", EVENT, ENTRIES)
    assert batch.splitlines() == [record_line(formatter, entry) for entry in ENTRIES]
    assert API_KEY not in batch and SECRET_SETTING not in batch


def test_a_json_stream_handler_gets_the_batch_in_one_write():
    name = f"licensing_api.test_access.{uuid.uuid4().hex}"
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    writes: list[str] = []
    stream.write = lambda text: writes.append(text) or len(text)  # type: ignore[method-assign]
    access_log = AccessLog(name)
    for entry in ENTRIES:
        access_log.add(entry)
    assert writes == []  # nothing on the request path
    access_log.write_pending()
    assert len(writes) == 1 and writes[0].count("\n") == len(ENTRIES)
    access_log.write_pending()
    assert len(writes) == 1  # nothing twice


def test_lines_below_the_level_are_dropped():
    name = f"licensing_api.test_access.{uuid.uuid4().hex}"
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    access_log = AccessLog(name)
    access_log.add(ENTRIES[0])
    access_log.write_pending()
    assert stream.getvalue() == "" and access_log.pending == []


async def test_the_writer_writes_what_is_pending_when_it_stops():
    name = f"licensing_api.test_access.{uuid.uuid4().hex}"
    with capture_logs() as logs:
        logging.getLogger(name).setLevel(logging.INFO)
        access_log = AccessLog(name)
        async with writing_access_log(access_log):
            for entry in ENTRIES:
                access_log.add(entry)
        assert [e["request_id"] for e in logs.entries()] == ["req-1", "0" * 32, "req-3"]


async def test_a_graceful_stop_of_the_app_loses_no_line(settings):
    app = create_app(settings)
    with capture_logs() as logs:
        async with LifespanManager(app) as manager:
            async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
                for _ in range(40):
                    await http.get("/healthz")
        access = [e for e in logs.entries() if e["event"] == EVENT]  # no waiting: the stop wrote them
    assert len(access) == 40


TRICKY_ENTRIES = [
    # Redaction reaching past the field a trigger is in: the whole-line result is kept.
    (1_767_225_601.1, "0123abcd" * 4, "GET", "/v1/content/x-authorization", "/v1/content/{path:path}", 200,
     0.001, ("10.0.0.2", 1), b"GPTBot/1.2"),
    (1_767_225_601.2, "cookie", "GET", "/v1/content/a", "/v1/content/{path:path}", 200, 0.002, None,
     b"Mozilla/5.0 Bearer abcdefgh"),
    (1_767_225_601.3, "lk_" + "a" * 20, "GET", "/v1/content/a", "/v1/content/{path:path}", 404, 0.003, None, b""),
    # A hex secret inside a hex request id; a secret in a client address.
    (1_767_225_601.4, "ffff" + "deadbeefcafe0123" + "0" * 12, "GET", "/", "unmatched", 404, 0.004,
     ("10.9.9.9", 2), b"curl/8"),
    # Lines with nothing to redact, between the others.
    (1_767_225_601.5, "0" * 32, "GET", "/v1/content/b", "/v1/content/{path:path}", 200, 0.005,
     ("10.0.0.3", 3), "GPTBot/1.2 \u00e9\"".encode("latin-1")),
]


def test_lines_with_something_to_redact_are_redacted_as_the_logging_call_did():
    for secrets in (
        (SECRET_SETTING, "deadbeefcafe0123", "10.9.9.9"),
        (SECRET_SETTING, "12345678"),  # could hide in a line's numbers: every batch redacted whole
        (),
    ):
        formatter = JsonFormatter(secrets)
        entries = [*ENTRIES, *TRICKY_ENTRIES]
        for _ in range(2):  # the second time from the remembered fields
            batch = formatter.format_access_lines("licensing_api.access", EVENT, entries)
            assert batch.splitlines() == [record_line(formatter, entry) for entry in entries]
    assert not JsonFormatter((SECRET_SETTING, "12345678")).access_parts.screens_lines
    lines = JsonFormatter(("deadbeefcafe0123", "10.9.9.9")).format_access_lines(
        "licensing_api.access", EVENT, TRICKY_ENTRIES).splitlines()
    assert "deadbeefcafe0123" not in lines[3] and "10.9.9.9" not in lines[3]
    assert '"path": "/v1/content/b"' in lines[4]


async def test_the_writer_task_writes_a_large_batch_in_order_a_chunk_at_a_time(monkeypatch):
    import asyncio

    from licensing_api.observability import access_log as module

    monkeypatch.setattr(module, "CHUNK", 2)
    name = f"licensing_api.test_access.{uuid.uuid4().hex}"
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    access_log = AccessLog(name)
    entries = [(*ENTRIES[0][:1], f"req-{n}", *ENTRIES[0][2:]) for n in range(5)]
    for entry in entries:
        access_log.add(entry)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await access_log.write_pending_in_chunks()
    counter.cancel()
    ids = [line.split('"request_id": "')[1].split('"')[0] for line in stream.getvalue().splitlines()]
    assert ids == [f"req-{n}" for n in range(5)]
    assert turns >= 2  # the loop ran between chunks
