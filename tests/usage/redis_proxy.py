"""A TCP proxy in front of the test Redis: faults at the network boundary, on demand."""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis


class RedisProxy:
    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 6379) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.down = False  # refuse and cut every connection
        self.replies_to_drop = 0  # cut the connection instead of forwarding the next replies
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def go_down(self) -> None:
        self.down = True
        for writer in list(self._writers):
            writer.close()

    def come_back(self) -> None:
        self.down = False

    async def close(self) -> None:
        self.go_down()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.down:
            client_writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        self._writers.update((client_writer, upstream_writer))

        async def requests() -> None:
            while data := await client_reader.read(65536):
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def replies() -> None:
            while data := await upstream_reader.read(65536):
                if self.replies_to_drop > 0:
                    self.replies_to_drop -= 1
                    return
                client_writer.write(data)
                await client_writer.drain()

        try:
            tasks = [asyncio.create_task(requests()), asyncio.create_task(replies())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
        finally:
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
