"""The header limits of `serve`'s HTTP protocol (http_limits.py), at their exact bounds."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from licensing_api.http_limits import MAX_HEADER_BYTES, MAX_HEADER_COUNT, BoundedHttpToolsProtocol


class Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def write_eof(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: object) -> None: ...


async def answer_to(*reads: bytes) -> bytes:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, access_log=False, log_level="critical")
    config.load()
    protocol = BoundedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for data in reads:
        protocol.data_received(data)
    for _ in range(20):
        await asyncio.sleep(0)
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
