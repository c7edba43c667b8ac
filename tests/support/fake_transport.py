"""A socket transport for driving `serve`'s HTTP protocol in-process: every write kept, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from licensing_api.http_protocol import ServiceHttpProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.closed_after: int | None = None  # how many writes preceded close()
        self.vectored: tuple[bytes, ...] = ()  # the last writelines() call's buffers

    @property
    def written(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes) -> None:
        assert not self.closing, "a write after close"
        self.writes.append(data)

    def writelines(self, data: tuple[bytes, ...]) -> None:
        self.vectored = data
        self.write(b"".join(data))

    def write_eof(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closed_after = len(self.writes)
        self.closing = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: object) -> None: ...


async def connection(app: Any) -> tuple[ServiceHttpProtocol, FakeTransport]:
    """A connection of `serve`'s protocol to `app`, over a fake transport."""
    config = uvicorn.Config(app, access_log=False, log_level="critical")
    config.load()
    protocol = ServiceHttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


async def settle() -> None:
    """Let the app's tasks run to their ends."""
    for _ in range(20):
        await asyncio.sleep(0)
