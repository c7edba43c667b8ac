"""Per-request metrics in plain integers, published to Prometheus by a collector at scrape time.

A Prometheus `labels(...).inc()` costs microseconds per request (label tuple, lock, and with
several workers a write into its value file). Here the request path adds to slots of a flat
int64 array instead: requests by route and status, a latency histogram per route, and known
crawlers by status. `RequestMetricsCollector` turns the slots into the same metric families
(named in `metrics.py`) when `/metrics` is read.

One worker: the array lives in memory. Several workers (`serve --workers N` sets
PROMETHEUS_MULTIPROC_DIR): each worker's array is a memory-mapped file in that folder, with
the names of its slots in a side file; the worker that answers the scrape sums every worker's
file as it is at that moment, so the figures are exact, not a second behind, and a stopped
worker's counts still add up (as prometheus_client's own multiprocess counters do).
"""

from __future__ import annotations

import json
import mmap
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from licensing_api import metrics
from licensing_api.observability.multiprocess import REQUEST_METRICS_FILES
from licensing_api.standards.crawlers import outcome_for_status

FILE_PREFIX = REQUEST_METRICS_FILES  # + pid + ".slots" (the values) / ".names" (what they count)
CAPACITY = 1 << 16  # slots per worker; beyond that, new series count into one overflow slot
BUCKETS = metrics.REQUEST_DURATION_BUCKETS
HISTOGRAM_WIDTH = len(BUCKETS) + 2  # a slot per bucket, one for +Inf, then the sum in µs
REQUESTS, DURATION, CRAWLER, OVERFLOW = "requests", "duration", "crawler", "overflow"

Named = dict[tuple[str, ...], list[int]]


class CounterSlots:
    """A flat array of int64 counters; each run of slots is named once by a key."""

    def __init__(self, directory: Path | None, capacity: int = CAPACITY, worker: int | None = None) -> None:
        self.capacity = capacity
        self._names: TextIO | None = None
        self._map: mmap.mmap | None = None
        if directory is None:
            self.values = memoryview(bytearray(capacity * 8)).cast("q")
        else:
            stem = directory / f"{FILE_PREFIX}{os.getpid() if worker is None else worker}"
            fd = os.open(f"{stem}.slots", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.ftruncate(fd, capacity * 8)  # sparse: a page exists once a slot in it is used
                self._map = mmap.mmap(fd, capacity * 8)
            finally:
                os.close(fd)
            self.values = memoryview(self._map).cast("q")
            self._names = open(f"{stem}.names", "w", encoding="utf-8")  # noqa: SIM115 (the worker's lifetime)
        self._keys: dict[tuple[str, ...], tuple[int, int]] = {}  # key → (first slot, width)
        self._next = 0
        self.overflow = self.allocate((OVERFLOW,))

    def allocate(self, key: tuple[str, ...], width: int = 1) -> int:
        """The first of `width` slots counting `key`; named (on disk: flushed) before use."""
        if self._next + width > self.capacity:
            return self.overflow
        start, self._next = self._next, self._next + width
        self._keys[key] = (start, width)
        if self._names is not None:
            self._names.write(json.dumps([start, width, *key]) + "\n")
            self._names.flush()  # a reader must see a slot's name before its value matters
        return start

    def named(self) -> Named:
        """This process's counters by key."""
        values = self.values
        return {key: values[start:start + width].tolist() for key, (start, width) in self._keys.items()}

    def close(self) -> None:
        if self._names is not None:
            self._names.close()


def read_slot_files(directory: Path) -> Iterator[Named]:
    """Every worker's counters as its files hold them now."""
    for names_path in sorted(directory.glob(f"{FILE_PREFIX}*.names")):
        try:
            lines = names_path.read_text(encoding="utf-8").splitlines(keepends=True)
            raw = names_path.with_suffix(".slots").read_bytes()
        except FileNotFoundError:
            continue
        values = memoryview(raw).cast("q")
        named: Named = {}
        for line in lines:
            if not line.endswith("\n"):
                break  # still being written: its slots hold nothing yet
            start, width, *key = json.loads(line)
            named[tuple(key)] = values[start:start + width].tolist()
        yield named


class RequestCounters:
    """What the request path counts: one `observe` per answered request (plain int additions)."""

    def __init__(self, directory: Path | None, *, worker: int | None = None) -> None:
        self.directory = directory
        self.slots = CounterSlots(directory, worker=worker)  # worker: the process id by default
        self._values = self.slots.values
        self._requests: dict[tuple[str, int], int] = {}  # (route, status) → slot
        self._durations: dict[str, int] = {}  # route → first histogram slot
        self._crawlers: dict[tuple[str, int], int] = {}  # (crawler, status) → slot

    def observe(self, route: str, status: int, seconds: float, crawler: str | None) -> None:
        values = self._values
        slot = self._requests.get((route, status))
        if slot is None:
            slot = self._requests[route, status] = self.slots.allocate((REQUESTS, route, str(status)))
        values[slot] += 1
        base = self._durations.get(route)
        if base is None:
            base = self._durations[route] = self.slots.allocate((DURATION, route), HISTOGRAM_WIDTH)
        values[base + bisect_left(BUCKETS, seconds)] += 1  # buckets are upper bounds, inclusive
        values[base + HISTOGRAM_WIDTH - 1] += int(seconds * 1e6)
        if crawler is not None:
            slot = self._crawlers.get((crawler, status))
            if slot is None:
                slot = self._crawlers[crawler, status] = self.slots.allocate((CRAWLER, crawler, str(status)))
            values[slot] += 1

    def every_worker(self) -> list[Named]:
        """This worker's counters, or every worker's when they share a folder."""
        if self.directory is None:
            return [self.slots.named()]
        return list(read_slot_files(self.directory))


class RequestMetricsCollector:
    """The counters as Prometheus metric families (a prometheus_client custom collector)."""

    def __init__(self, counters: RequestCounters) -> None:
        self.counters = counters

    def collect(self) -> Iterable[Metric]:
        requests: dict[tuple[str, str], int] = {}
        durations: dict[str, list[int]] = {}
        crawlers: dict[tuple[str, str], int] = {}
        for worker in self.counters.every_worker():
            for key, values in worker.items():
                kind = key[0]
                if kind == REQUESTS:
                    requests[key[1], key[2]] = requests.get((key[1], key[2]), 0) + values[0]
                elif kind == DURATION:
                    total = durations.setdefault(key[1], [0] * HISTOGRAM_WIDTH)
                    for i, value in enumerate(values):
                        total[i] += value
                elif kind == CRAWLER:
                    labels = (key[1], outcome_for_status(int(key[2])))
                    crawlers[labels] = crawlers.get(labels, 0) + values[0]
        yield _counter(metrics.REQUESTS, ["route", "status"], requests)
        histogram = HistogramMetricFamily(metrics.REQUEST_DURATION[0], metrics.REQUEST_DURATION[1], labels=["route"])
        for route, values in sorted(durations.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), values, strict=False):
                cumulative += count
                buckets.append((_bucket_label(bound), cumulative))
            histogram.add_metric([route], buckets, values[-1] / 1e6)
        yield histogram
        yield _counter(metrics.CRAWLER_REQUESTS, ["crawler", "outcome"], crawlers)


def _counter(name_and_help: tuple[str, str], labels: list[str], values: dict[tuple[str, str], int]) -> Metric:
    family = CounterMetricFamily(name_and_help[0], name_and_help[1], labels=labels)
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family


def _bucket_label(bound: float) -> str:
    return floatToGoString(bound)  # "+Inf" for infinity, as prometheus_client labels buckets
