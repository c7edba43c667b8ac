"""On-demand fault injection for requests matching a method and a path glob.

Kinds (each consumes one of ``count`` per matching request):

- ``rate_limit``: 429 with ``Retry-After`` (param ``retry_after``, default 1) and Stripe's
  ``rate_limit`` error JSON; nothing is executed.
- ``error``: 500 ``api_error``; nothing is executed.
- ``delay``: wait ``seconds`` (default 1.0), then handle the request normally.
- ``drop``: close the connection without any response; nothing is executed.
- ``commit_then_fail``: execute the request (its effects are kept, and its result is
  stored under the request's Idempotency-Key as Stripe would), then answer 500
  (``then="error"``, default) or drop the connection (``then="drop"``): a timeout after
  Stripe recorded the effect.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

KINDS = {"rate_limit", "error", "delay", "drop", "commit_then_fail"}


@dataclass
class Fault:
    method: str
    path: str
    kind: str
    count: int
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0


class Faults:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, method: str, path: str, kind: str, count: int = 1, **params: Any) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        fault = Fault(method.upper(), path, kind, int(count), params)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.hits >= fault.count:
                continue
            if fault.method not in ("*", method) or not fnmatch.fnmatchcase(path, fault.path):
                continue
            fault.hits += 1
            return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        return [vars(f) | {} for f in self.faults]
