"""Structured JSON logs: one object per line, event name plus fields, never secrets.

Every line carries the id of the request it was written for (`request_id`, set by the
request-context middleware) and passes through `redact` last, so a secret that slipped into
a message, a field or a traceback is replaced before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as json_string  # what json.dumps uses
from typing import Any, TextIO

from pydantic import SecretStr

from licensing_api.observability.redaction import (
    REDACTED,
    REDACTION_TRIGGERS,
    SENSITIVE_NAMES,
    redact,
    redact_fields,
)
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
        self.access_parts = AccessLineParts(self.known_secrets)

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
        text `format` gives their records, built from the known fields.

        Redaction costs more than the line itself when run over every line (a dozen
        substring scans), so it runs only on lines that could hold a secret (`AccessLineParts`):
        for the rest, `redact` would return the line unchanged.
        """
        parts = self.access_parts
        head = (
            f'"level": "info", "logger": {json_string(logger_name)}, "event": {json_string(event)}, '
            f'"pid": {os.getpid()}, "request_id": '
        )
        screened = parts.screens_lines and not parts.suspect_head(head)
        entries = list(entries)
        plain_ids = parts.plain_ids("".join([entry[1] for entry in entries]))
        requests, request_part = parts.requests, parts.request_part
        peers, peer_part = parts.peers, parts.peer_part
        lines = []
        suspects = []
        second, second_text = -1, ""
        for created, request_id, method, path, route, status, seconds, client, user_agent in entries:
            whole = int(created)
            micros = round((created - whole) * 1e6)  # as datetime.fromtimestamp rounds, in `format`
            if micros >= 1_000_000:
                whole, micros = whole + 1, micros - 1_000_000
            if whole != second:  # one strftime per second of entries, not per line
                second, second_text = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            request_text, request_suspect = requests.get(key := (method, path, route)) or request_part(key)
            peer_text, peer_suspect = peers.get(pair := (client[0] if client else None, user_agent)) or peer_part(pair)
            if plain_ids:
                rid_text = f'"{request_id}"'
            else:
                rid_text, rid_suspect = parts.request_id(request_id)
                request_suspect = request_suspect or rid_suspect
            if request_suspect or peer_suspect:
                suspects.append(len(lines))
            lines.append(
                f'{{"ts": "{second_text}.{micros // 1000:03d}+00:00", {head}{rid_text}, {request_text}, '
                f'"status": {status}, "duration_ms": {round(seconds * 1000, 2)!r}, {peer_text}}}\n'
            )
        if not screened:
            return redact("".join(lines), self.known_secrets)
        for index in suspects:  # the patterns never span lines
            lines[index] = redact(lines[index], self.known_secrets)
        return "".join(lines)


# What a line's numbers and time, with what joins them to the keys, are made of: a known
# secret made only of these could hide in a line's fixed text.
_NUMERIC_CHARS = frozenset("0123456789.:+-Te ,")
_LINE_KEYS = (
    '{"ts": "", "level": "info", "logger": , "event": , "pid": , "request_id": , "method": , "path": , '
    '"route": , "status": , "duration_ms": , "client": null, "user_agent": }'
)
PART_MEMO_LIMIT = 4096  # distinct paths, agents, routes, clients remembered; then start over


class AccessLineParts:
    """The JSON text of access-line fields, each with whether `redact` could change a line
    holding it: it contains one of redact's triggers or a known secret. Fields repeat (a
    crawler's User-Agent, its paths), so both are remembered per distinct value.

    A line none of whose fields is a suspect is left as it is by `redact`: a trigger or secret
    cannot span two fields (the JSON between them has quotes, which neither contains) and the
    fixed text has none (checked here); if a known secret could hide in the fixed text or
    span fields, `screens_lines` is False and every batch is redacted whole, as before.
    """

    def __init__(self, known_secrets: tuple[str, ...]) -> None:
        alternatives = [re.escape(secret) for secret in known_secrets]
        triggers = "|".join(map(re.escape, REDACTION_TRIGGERS))
        self._suspect = re.compile("|".join([f"(?i:{triggers})", *alternatives]))
        self.screens_lines = not self.suspect(_LINE_KEYS) and all(
            '"' not in secret and "\\" not in secret and "\n" not in secret
            and not set(secret) <= _NUMERIC_CHARS
            for secret in known_secrets
        )
        # A request id of ASCII letters and digits needs no JSON escaping, and without o or r
        # holds no trigger (each has one of them or a character that is not alphanumeric);
        # only a secret of such characters could hide in it.
        assert all(not t.isalnum() or "o" in t or "r" in t for t in REDACTION_TRIGGERS)
        self.id_secrets = tuple(
            secret for secret in known_secrets if secret.isalnum() and not set(secret) & set("oOrR")
        )
        self._head, self._head_suspect = "", False
        self.requests: dict[tuple[str, str, str], tuple[str, bool]] = {}  # (method, path, route)
        self.peers: dict[tuple[str | None, bytes], tuple[str, bool]] = {}  # (client host, User-Agent)

    def suspect(self, text: str) -> bool:
        return self._suspect.search(text) is not None

    def suspect_head(self, head: str) -> bool:
        if head != self._head:
            self._head, self._head_suspect = head, self.suspect(head)
        return self._head_suspect

    def plain_ids(self, ids: str) -> bool:
        """Whether request ids (joined) are all ASCII letters and digits without o or r (such
        as the edge's own, hex) and hold no known secret: no escaping, nothing to redact."""
        return (ids.isascii() and ids.encode("ascii").isalnum() and "o" not in ids and "r" not in ids
                and "O" not in ids and "R" not in ids and not any(secret in ids for secret in self.id_secrets))

    def request_id(self, request_id: str) -> tuple[str, bool]:
        if self.plain_ids(request_id):
            return f'"{request_id}"', False
        encoded = json_string(request_id)
        return encoded, self.suspect(encoded)

    def request_part(self, key: tuple[str, str, str]) -> tuple[str, bool]:
        method, path, route = key
        text = f'"method": {json_string(method)}, "path": {json_string(path)}, "route": {json_string(route)}'
        return self._remember(self.requests, key, text)

    def peer_part(self, key: tuple[str | None, bytes]) -> tuple[str, bool]:
        host, user_agent = key
        client = "null" if host is None else json_string(host)
        text = f'"client": {client}, "user_agent": {json_string(user_agent.decode("latin-1")[:256])}'
        return self._remember(self.peers, key, text)

    def _remember(self, memo: dict, key: object, text: str) -> tuple[str, bool]:  # type: ignore[type-arg]
        # A suspect anywhere in the joined text, even across two fields, only means the line is
        # redacted as before: it can never leave a secret in a line.
        part = (text, self.suspect(text))
        if len(memo) >= PART_MEMO_LIMIT:
            memo.clear()  # a flood of distinct paths or agents must not grow memory without bound
        memo[key] = part
        return part


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
