"""The access log, off the request path: one JSON line per request, written in batches.

The request path hands `AccessLog.add` a tuple of the fields it already holds (well under a
microsecond); `write_pending` turns the batch into the `http_request` lines and writes them,
every `WRITE_INTERVAL_SECONDS` from the task `writing_access_log` runs (`CHUNK` lines at a
time, requests running in between), when the batch grows
to `MAX_PENDING`, and at shutdown, after the last request has been answered: nothing is lost
on a graceful stop.

Lines carry the fields, order and redaction `logger.info("http_request", extra=…)` gives
(`JsonFormatter.format_access_lines` builds them; the request id is the one the request had).
Where the `licensing_api.access` logger's handlers are the service's own JSON stream handlers
(`configure_logging`), a batch is one write; any other handler gets one `LogRecord` per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from licensing_api.logging import REQUEST_ID, JsonFormatter

LOGGER_NAME = "licensing_api.access"
EVENT = "http_request"
WRITE_INTERVAL_SECONDS = 0.1
MAX_PENDING = 20_000  # a stalled writer task must not hold memory without bound
CHUNK = 200  # lines formatted and written between two turns of the event loop (about 1 ms)

# (time.time() at the end, request id, method, path, route, status, seconds, scope["client"],
#  raw User-Agent or b"")
AccessEntry = tuple[float, str, str, str, str, int, float, "tuple[str, int] | None", bytes]


class AccessLog:
    def __init__(self, logger_name: str = LOGGER_NAME) -> None:
        self.logger = logging.getLogger(logger_name)
        self.pending: list[AccessEntry] = []

    def add(self, entry: AccessEntry) -> None:
        pending = self.pending
        pending.append(entry)
        if len(pending) >= MAX_PENDING:
            self.write_pending()

    def write_pending(self) -> None:
        entries, self.pending = self.pending, []
        self.write(entries)

    async def write_pending_in_chunks(self) -> None:
        """`write_pending`, a chunk at a time, letting requests run between chunks: a batch of
        a busy second's tenth (over a thousand lines) would hold the event loop for
        milliseconds, and every request waiting then would have it added to its latency."""
        entries, self.pending = self.pending, []
        written = 0
        try:
            while written < len(entries):
                self.write(entries[written:written + CHUNK])
                written += CHUNK
                await asyncio.sleep(0)
        finally:
            self.write(entries[written:])  # cancelled between chunks: the rest now, in order

    def write(self, entries: list[AccessEntry]) -> None:
        if not entries or not self.logger.isEnabledFor(logging.INFO):
            return
        handlers = _handlers_of(self.logger)
        if handlers is not None:
            for handler in handlers:
                if not _write_batch(handler, self.logger.name, entries):
                    _emit_records(self.logger, entries, handler)
        else:
            _emit_records(self.logger, entries, None)


def _handlers_of(logger: logging.Logger) -> list[logging.StreamHandler] | None:  # type: ignore[type-arg]
    """The handlers a record of `logger` at INFO reaches, if all are plain JSON stream
    handlers without filters (None otherwise: lines then go through `Logger.handle`)."""
    if logger.filters:
        return None
    found: list[logging.StreamHandler] = []  # type: ignore[type-arg]
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if handler.level > logging.INFO:
                continue
            if not (type(handler) is logging.StreamHandler and isinstance(handler.formatter, JsonFormatter)
                    and not handler.filters):
                return None
            found.append(handler)
        current = current.parent if current.propagate else None
    return found


def _write_batch(handler: logging.StreamHandler, logger_name: str, entries: list[AccessEntry]) -> bool:  # type: ignore[type-arg]
    formatter = handler.formatter
    assert isinstance(formatter, JsonFormatter)
    text = formatter.format_access_lines(logger_name, EVENT, entries)
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    except (OSError, ValueError):
        return False  # the per-record path reports it as logging reports any failed write
    finally:
        handler.release()
    return True


def _emit_records(
    logger: logging.Logger, entries: list[AccessEntry], handler: logging.Handler | None
) -> None:
    """One `LogRecord` per line, as `logger.info(EVENT, extra=…)` made them, each in its
    request's id (to `handler` only, or through `logger` to all its handlers)."""
    for created, request_id, method, path, route, status, seconds, client, user_agent in entries:
        record = logger.makeRecord(
            logger.name, logging.INFO, __file__, 0, EVENT, (), None,
            extra=access_fields(method, path, route, status, seconds, client, user_agent),
        )
        record.created, record.msecs = created, (created - int(created)) * 1000
        token = REQUEST_ID.set(request_id)
        try:
            if handler is None:
                logger.handle(record)
            else:
                handler.handle(record)
        finally:
            REQUEST_ID.reset(token)


def access_fields(
    method: str, path: str, route: str, status: int, seconds: float,
    client: tuple[str, int] | None, user_agent: bytes,
) -> dict[str, object]:
    """The fields of an access line (the path only: a query string can carry credentials)."""
    return {
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client": client[0] if client else None,
        "user_agent": user_agent.decode("latin-1")[:256],
    }


@contextlib.asynccontextmanager
async def writing_access_log(access_log: AccessLog) -> AsyncIterator[None]:
    """Write the access log every interval while the app runs; everything left at the end."""
    stop = asyncio.Event()

    async def write_every_interval() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WRITE_INTERVAL_SECONDS)
            await access_log.write_pending_in_chunks()

    task = asyncio.create_task(write_every_interval(), name="access-log-writer")
    try:
        yield
    finally:
        stop.set()
        await task
        access_log.write_pending()
