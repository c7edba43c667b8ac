"""The header limits of `serve`'s HTTP protocol (http_protocol.py), at their exact bounds."""

from __future__ import annotations

from licensing_api.http_protocol import MAX_HEADER_BYTES, MAX_HEADER_COUNT
from tests.support.fake_transport import connection, settle


async def answer_to(*reads: bytes) -> bytes:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = await connection(app)
    for data in reads:
        protocol.data_received(data)
    await settle()
    protocol.connection_lost(None)
    return transport.written


def request(url: bytes, headers: list[bytes]) -> bytes:
    return b"GET " + url + b" HTTP/1.1\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


async def test_headers_up_to_the_byte_limit_are_read_and_one_byte_more_is_refused():
    url = b"/healthz"
    # name + value bytes: "x-big" and its value, with the URL, exactly MAX_HEADER_BYTES.
    at_limit = b"x-big: " + b"a" * (MAX_HEADER_BYTES - len(url) - len(b"x-big"))
    assert (await answer_to(request(url, [at_limit]))).startswith(b"HTTP/1.1 204 ")
    over = await answer_to(request(url, [at_limit + b"a"]))
    assert over.startswith(b"HTTP/1.1 431 ") and b"exceed" in over


async def test_header_lines_up_to_the_count_limit_are_read_and_one_more_is_refused():
    lines = [b"x-h%d: v" % i for i in range(MAX_HEADER_COUNT)]
    assert (await answer_to(request(b"/", lines))).startswith(b"HTTP/1.1 204 ")
    over = await answer_to(request(b"/", [*lines, b"x-last: v"]))
    assert over.startswith(b"HTTP/1.1 431 ") and b"more than 100 header lines" in over


async def test_headers_over_the_limit_across_reads_are_refused():
    head = request(b"/", [b"x-big: " + b"a" * MAX_HEADER_BYTES])
    reads = [head[i:i + 4096] for i in range(0, len(head), 4096)]
    assert (await answer_to(*reads)).startswith(b"HTTP/1.1 431 ")


async def test_a_small_request_after_a_large_one_on_the_same_connection_is_served():
    first = request(b"/", [b"x-ok: " + b"c" * 8000])
    answer = await answer_to(first + request(b"/", [b"host: t"]))
    assert answer.count(b"HTTP/1.1 204 ") == 2
