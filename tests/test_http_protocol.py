"""`serve`'s HTTP protocol writes a response's head with its first body bytes, one write, and
never holds back what a client is waiting for (http_protocol.py). The header limits are in
tests/security/test_header_limits.py."""

from __future__ import annotations

import asyncio

from licensing_api.http_protocol import JOIN_AT_MOST
from tests.support.fake_transport import connection, settle

BODY = b'{"ok": true}'


def start(headers: list[tuple[bytes, bytes]], status: int = 200) -> dict:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(data: bytes, more: bool = False) -> dict:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def answer(scope, receive, send):  # type: ignore[no-untyped-def]
    await send(start([(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]))
    await send(body(BODY))


async def test_a_response_is_written_in_one_write_head_and_body():
    protocol, transport = await connection(answer)
    protocol.data_received(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
    await settle()
    (write,) = transport.writes
    assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n" + BODY)
    assert b"content-length: 12\r\n" in write


async def test_a_large_body_is_sent_with_its_head_in_one_call_without_joining_them():
    large = b"x" * (JOIN_AT_MOST + 1)

    async def large_answer(scope, receive, send):  # type: ignore[no-untyped-def]
        await send(start([(b"content-length", b"%d" % len(large))]))
        await send(body(large))

    protocol, transport = await connection(large_answer)
    protocol.data_received(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
    await settle()
    (head, sent) = transport.vectored  # one writelines call: head and body side by side
    assert head.startswith(b"HTTP/1.1 200 ") and sent is large


async def test_pipelined_requests_are_answered_in_order_one_write_each():
    protocol, transport = await connection(answer)
    protocol.data_received(b"GET /a HTTP/1.1\r\nhost: t\r\n\r\n" * 3)
    await settle()
    assert len(transport.writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 ") and w.endswith(BODY) for w in transport.writes)


async def test_a_head_request_answer_is_written_when_the_response_ends_before_the_next():
    protocol, transport = await connection(answer)
    protocol.data_received(b"HEAD /a HTTP/1.1\r\nhost: t\r\n\r\nGET /b HTTP/1.1\r\nhost: t\r\n\r\n")
    await settle()
    head, get = transport.writes
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")  # no body for HEAD
    assert get.startswith(b"HTTP/1.1 200 ") and get.endswith(BODY)


async def test_a_response_without_content_length_sends_its_head_at_once():
    release = asyncio.Event()

    async def stream(scope, receive, send):  # type: ignore[no-untyped-def]
        await send(start([(b"content-type", b"text/event-stream")]))
        await release.wait()
        await send(body(b"data: 1\n\n"))

    protocol, transport = await connection(stream)
    protocol.data_received(b"GET /events HTTP/1.1\r\nhost: t\r\n\r\n")
    await settle()
    (head,) = transport.writes  # the client has the head while the body is still to come
    assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked\r\n" in head
    release.set()
    await settle()
    assert transport.written.endswith(b"9\r\ndata: 1\n\n\r\n0\r\n\r\n")


async def test_a_head_with_content_length_waits_for_the_first_body_bytes():
    release = asyncio.Event()

    async def late_body(scope, receive, send):  # type: ignore[no-untyped-def]
        await send(start([(b"content-length", b"%d" % len(BODY))]))
        await release.wait()
        await send(body(BODY))

    protocol, transport = await connection(late_body)
    protocol.data_received(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
    await settle()
    assert transport.writes == []
    release.set()
    await settle()
    (write,) = transport.writes
    assert write.startswith(b"HTTP/1.1 200 ") and write.endswith(BODY)


async def test_100_continue_is_sent_at_once_so_the_client_sends_its_body():
    async def echo(scope, receive, send):  # type: ignore[no-untyped-def]
        received = (await receive())["body"]
        await send(start([(b"content-length", b"%d" % len(received))]))
        await send(body(received))

    protocol, transport = await connection(echo)
    protocol.data_received(b"POST /x HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n")
    await settle()
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    protocol.data_received(b"hello")
    await settle()
    assert transport.writes[1].startswith(b"HTTP/1.1 200 ") and transport.writes[1].endswith(b"hello")


async def test_the_answer_is_written_before_the_connection_closes():
    protocol, transport = await connection(answer)
    protocol.data_received(b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    await settle()
    assert transport.closed_after == 1 and transport.writes[0].endswith(BODY)


async def test_a_held_head_is_written_before_the_close_when_the_app_fails_after_starting():
    async def fails(scope, receive, send):  # type: ignore[no-untyped-def]
        await send(start([(b"content-length", b"%d" % len(BODY))]))
        raise RuntimeError("the app failed after starting its response")

    protocol, transport = await connection(fails)
    protocol.data_received(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
    await settle()
    assert transport.closed_after == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 ")
