"""Structured JSON logs: one object per line, event name plus fields, never secrets.

Every line carries the id of the request it was written for (`request_id`, set by the
request-context middleware) and passes through `redact` last, so a secret that slipped into
a message, a field or a traceback is replaced before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as json_string  # what json.dumps uses
from typing import Any, TextIO

from pydantic import SecretStr

from licensing_api.observability.redaction import REDACTED, SENSITIVE_NAMES, redact, redact_fields
from licensing_api.settings import Settings

# "color_message": uvicorn's ANSI-coloured copy of the message.
RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "color_message"
}

# The id of the request being handled; "" outside a request (tasks, start-up).
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")

# uvicorn's own loggers: routed through the JSON handler instead of uvicorn's plain text.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
# Replaced by our access log (observability/middleware.py), which knows the request id.
UVICORN_ACCESS_LOGGER = "uvicorn.access"


class JsonFormatter(logging.Formatter):
    def __init__(self, known_secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self.known_secrets = tuple(sorted({s for s in known_secrets if len(s) >= 8}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "pid": record.process,  # which worker, when several share one stream
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in RESERVED and not key.startswith("_"):
                if key.lower() in SENSITIVE_NAMES:
                    value = REDACTED
                elif isinstance(value, (dict, list, tuple)):
                    value = redact_fields(value)
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str), self.known_secrets)

    def format_access_lines(self, logger_name: str, event: str, entries: Iterable[tuple[Any, ...]]) -> str:
        """Access-log lines (observability/access_log.py entries), newline-terminated: the
        text `format` gives their records, built from the known fields and redacted once per
        batch (the patterns never span lines)."""
        head = (
            f'"level": "info", "logger": {json_string(logger_name)}, "event": {json_string(event)}, '
            f'"pid": {os.getpid()}, "request_id": '
        )
        lines = []
        second, second_text = -1, ""
        for created, request_id, method, path, route, status, seconds, client, user_agent in entries:
            whole = int(created)
            if whole != second:  # one strftime per second of entries, not per line
                second, second_text = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            lines.append(
                f'{{"ts": "{second_text}.{int((created - whole) * 1000):03d}+00:00", {head}'
                f'{json_string(request_id)}, "method": {json_string(method)}, "path": {json_string(path)}, '
                f'"route": {json_string(route)}, "status": {status}, '
                f'"duration_ms": {round(seconds * 1000, 2)!r}, '
                f'"client": {json_string(client[0]) if client else "null"}, '
                f'"user_agent": {json_string(user_agent.decode("latin-1")[:256])}}}\n'
            )
        return redact("".join(lines), self.known_secrets)


def secret_values(settings: Settings) -> tuple[str, ...]:
    """Every secret setting's value (each of several comma-separated webhook secrets too)."""
    values: list[str] = []
    for value in settings.__dict__.values():
        if isinstance(value, SecretStr):
            raw = value.get_secret_value()
            values.extend([raw, *(part.strip() for part in raw.split(","))])
    return tuple(values)


def configure_logging(
    level: str, stream: TextIO | None = None, known_secrets: tuple[str, ...] = ()
) -> logging.Handler:
    """JSON lines on stderr (or `stream`) for every logger, uvicorn's included."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(known_secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    uvicorn_access = logging.getLogger(UVICORN_ACCESS_LOGGER)
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    return handler
