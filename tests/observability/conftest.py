from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from licensing_api.logging import JsonFormatter


class CapturedLogs:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    async def access_lines(self, at_least: int = 1) -> list[dict]:
        """The `http_request` lines once `at_least` are written: the access log is written
        off the request path, a batch every 0.1 s (bounded wait: a few seconds at most)."""
        lines: list[dict] = []
        for _ in range(500):
            lines = [e for e in self.entries() if e["event"] == "http_request"]
            if len(lines) >= at_least:
                break
            await asyncio.sleep(0.01)
        return lines


@contextmanager
def capture_logs(known_secrets: tuple[str, ...] = ()) -> Iterator[CapturedLogs]:
    """Every log record of every logger, at DEBUG, through the service's JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(known_secrets))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield CapturedLogs(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


@pytest.fixture
def captured_logs() -> Iterator[CapturedLogs]:
    with capture_logs() as logs:
        yield logs
