"""One usage flush: Redis → ledger → Stripe, each step idempotent (DESIGN.md §2).

1. Recover: any batch still in Redis's in-flight keys (a flusher died, or PostgreSQL failed,
   after taking it) is written to the ledger under its own flush id, unless that flush id is
   already there; then its keys are deleted.
2. Take: one Lua step renames the pending hashes to in-flight keys named by a new flush id
   and returns their contents. Workers' next HINCRBYs start fresh hashes.
3. Ledger: one transaction inserts the `usage_flushes` row (at most once: primary key), one
   report per (item, period) with a deterministic id, the per-key daily units and the keys'
   last-used times. Then the in-flight keys are deleted.
4. Send: every pending report that is due goes to Stripe with `identifier` = its id and is
   marked sent only on acknowledgement; transient failures get a later `next_attempt_at`.

Exactly once: units are in Redis, in an in-flight batch, or in the ledger, never two at once
(the rename is atomic; a batch's ledger write happens once and its keys go only after it),
and Stripe counts a report id once however often it is resent.

`USAGE_FLUSH_CRASH_AT` (tests only) SIGKILLs the process at `after_take`, `after_ledger`
or `after_send`, to prove the above across a hard crash.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from licensing_api import metrics
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from licensing_api.usage import ledger, redis_keys
from licensing_api.usage.ledger import DueReport, TakenBatch
from licensing_api.usage.models import ReportState
from licensing_api.usage.stripe_reporter import MeterEvent, Outcome, SendResult, StripeMeterReporter

logger = logging.getLogger(__name__)

CRASH_POINTS = ("after_take", "after_ledger", "after_send")
MAX_REPORTS_PER_FLUSH = 50_000
RETRY_DELAY_CAP = timedelta(hours=1)  # keeps resends well inside Stripe's 24 h dedup window
UNATTRIBUTED = "usage:unattributed"

# KEYS: the three pending hashes, their three in-flight names, the in-flight index.
# ARGV[1]: the flush id. Returns the three taken hashes as flat field/value lists.
_TAKE_SCRIPT = """
local taken = {}
local any = false
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 3])
    taken[i] = redis.call('HGETALL', KEYS[i + 3])
    any = true
  else
    taken[i] = {}
  end
end
if any then redis.call('SADD', KEYS[7], ARGV[1]) end
return taken
"""


@dataclass(slots=True)
class FlushReport:
    """What one flush did, for the CLI and logs."""

    flush_id: str | None = None
    taken_units: int = 0
    recovered: list[str] = field(default_factory=list)
    sent: list[tuple[DueReport, SendResult]] = field(default_factory=list)
    retrying: list[tuple[DueReport, SendResult]] = field(default_factory=list)
    failed: list[tuple[DueReport, SendResult]] = field(default_factory=list)

    @property
    def units_reported(self) -> int:
        return sum(report.units for report, _ in self.sent)


def new_flush_id() -> str:
    """Time-ordered and unique without any shared counter (a restarted Redis must not reuse one)."""
    return f"{int(time.time()):08x}{secrets.token_hex(6)}"


async def flush_once(resources: Resources, reporter: StripeMeterReporter | None = None) -> FlushReport:
    started = time.perf_counter()
    report = FlushReport()
    report.recovered = await recover_inflight(resources)
    batch = await take_pending(resources)
    if batch is not None:
        report.flush_id, report.taken_units = batch.flush_id, batch.units
        _crash_point(resources.settings, "after_take")
        await _record(resources, batch, recovered=False)
        _crash_point(resources.settings, "after_ledger")
        await _forget_inflight(resources, batch.flush_id)
    if resources.stripe is not None:
        reporter = reporter or StripeMeterReporter(resources.stripe)
        await _send_due(resources, reporter, report)
    await _update_gauges(resources)
    metrics.USAGE_FLUSH_DURATION.observe(time.perf_counter() - started)
    logger.info("usage_flushed", extra={
        "flush_id": report.flush_id, "taken_units": report.taken_units,
        "recovered": report.recovered, "reports_sent": len(report.sent),
        "units_reported": report.units_reported, "reports_retrying": len(report.retrying),
        "reports_failed": len(report.failed),
    })
    return report


async def take_pending(resources: Resources) -> TakenBatch | None:
    """Move the pending hashes into a new in-flight batch, atomically; None if nothing pending."""
    flush_id = new_flush_id()
    sources = [resources.redis_key(name) for name in redis_keys.TAKEN_HASHES]
    targets = [resources.redis_key(redis_keys.inflight_key(flush_id, name))
               for name in redis_keys.TAKEN_HASHES]
    taken = await resources.redis.eval(  # type: ignore[misc]
        _TAKE_SCRIPT, 7, *sources, *targets, resources.redis_key(redis_keys.INFLIGHT), flush_id
    )
    contents = [_pairs(flat) for flat in taken]
    if not any(contents):
        return None
    return _parse_batch(flush_id, utcnow(), contents)


async def recover_inflight(resources: Resources) -> list[str]:
    """Write every in-flight batch not yet in the ledger, then delete its keys."""
    index = resources.redis_key(redis_keys.INFLIGHT)
    flush_ids = sorted(m.decode() if isinstance(m, bytes) else m
                       for m in await resources.redis.smembers(index))  # type: ignore[misc]
    recovered = []
    for flush_id in flush_ids:
        contents = []
        for name in redis_keys.TAKEN_HASHES:
            key = resources.redis_key(redis_keys.inflight_key(flush_id, name))
            contents.append({_text(k): _text(v) for k, v in (await resources.redis.hgetall(key)).items()})  # type: ignore[misc]
        batch = _parse_batch(flush_id, _taken_at(flush_id), contents)
        if await _record(resources, batch, recovered=True):
            recovered.append(flush_id)
            logger.warning("usage_batch_recovered", extra={"flush_id": flush_id, "units": batch.units})
        await _forget_inflight(resources, flush_id)
    return recovered


async def _record(resources: Resources, batch: TakenBatch, *, recovered: bool) -> bool:
    async with session_scope(resources.sessionmaker) as session:
        recorded = await ledger.record_batch(
            session, batch, billing_enabled=resources.stripe is not None, now=utcnow(),
            recovered=recovered,
        )
    if recorded is None:
        return False
    for fieldname, units in recorded.unattributed.items():  # kept visible for operators
        await resources.redis.hincrby(resources.redis_key(UNATTRIBUTED), fieldname, units)  # type: ignore[misc]
    local = [r for r in recorded.reports if r["state"] == ReportState.LOCAL]
    if local:
        metrics.USAGE_REPORTS.labels("local").inc(len(local))
    return True


async def _forget_inflight(resources: Resources, flush_id: str) -> None:
    keys = [resources.redis_key(redis_keys.inflight_key(flush_id, name))
            for name in redis_keys.TAKEN_HASHES]
    await resources.redis.delete(*keys)
    await resources.redis.srem(resources.redis_key(redis_keys.INFLIGHT), flush_id)  # type: ignore[misc]


async def _send_due(resources: Resources, reporter: StripeMeterReporter, report: FlushReport) -> None:
    now = utcnow()
    async with session_scope(resources.sessionmaker) as session:
        due = await ledger.due_reports(session, now, MAX_REPORTS_PER_FLUSH)
    if not due:
        return
    by_id = {d.id: d for d in due}
    results: list[SendResult] = []
    events = []
    for d in due:
        if d.event_name and d.stripe_customer_id:
            events.append(MeterEvent(d.id, d.event_name, d.stripe_customer_id, d.units, d.usage_at))
        else:
            results.append(SendResult(d.id, Outcome.FAILED, "none",
                                      error="no Stripe customer id or meter for this item"))
    results.extend(await reporter.send(events))
    _crash_point(resources.settings, "after_send")
    interval = resources.settings.usage_flush_interval_seconds
    sent, retry, failed = [], [], []
    for result in results:
        due_report = by_id[result.report_id]
        attempts = due_report.attempts + 1
        if result.outcome is Outcome.SENT:
            sent.append({"b_id": result.report_id, "b_attempts": attempts,
                         "b_response": {"via": result.via, "duplicate": result.duplicate}})
            report.sent.append((due_report, result))
        elif result.outcome is Outcome.RETRY:
            retry.append({"b_id": result.report_id, "b_attempts": attempts,
                          "b_next": now + retry_delay(attempts, interval), "b_error": result.error})
            report.retrying.append((due_report, result))
        else:
            failed.append({"b_id": result.report_id, "b_attempts": attempts, "b_error": result.error})
            report.failed.append((due_report, result))
    async with session_scope(resources.sessionmaker) as session:
        await ledger.mark_sent(session, sent, now)
        await ledger.mark_retry(session, retry)
        await ledger.mark_failed(session, failed)
    metrics.UNITS_REPORTED.inc(report.units_reported)
    metrics.USAGE_REPORTS.labels("sent").inc(len(sent))
    metrics.USAGE_REPORTS.labels("retry").inc(len(retry))
    metrics.USAGE_REPORTS.labels("failed").inc(len(failed))


def retry_delay(attempts: int, interval_seconds: float) -> timedelta:
    """Exponential backoff in flush intervals, with jitter, capped at an hour."""
    base = min(interval_seconds * 2 ** min(attempts - 1, 20), RETRY_DELAY_CAP.total_seconds())
    return timedelta(seconds=base * random.uniform(0.5, 1.0))


async def _update_gauges(resources: Resources) -> None:
    pending = await resources.redis.hvals(resources.redis_key(redis_keys.PENDING))  # type: ignore[misc]
    async with session_scope(resources.sessionmaker) as session:
        by_state = await ledger.unsettled_units_by_state(session)
        oldest = await ledger.oldest_unsent_at(session)
    # Reported units are the counter `licensing_usage_units_reported_total`.
    metrics.USAGE_UNITS_BY_STATE.labels("pending_redis").set(sum(int(v) for v in pending))
    metrics.USAGE_UNITS_BY_STATE.labels("in_flight").set(by_state.get(ReportState.PENDING, 0))
    metrics.USAGE_UNITS_BY_STATE.labels("failed").set(by_state.get(ReportState.FAILED, 0))
    lag = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    metrics.USAGE_FLUSH_LAG.set(max(lag, 0.0))


def _crash_point(settings: Settings, step: str) -> None:
    """Test-only fault hook (`USAGE_FLUSH_CRASH_AT`): die here as a power cut would."""
    if settings.usage_flush_crash_at == step:
        logger.warning("usage_flush_crash_hook", extra={"step": step})
        os.kill(os.getpid(), signal.SIGKILL)


def _parse_batch(flush_id: str, taken_at: datetime, contents: list[dict[str, str]]) -> TakenBatch:
    batch = TakenBatch(flush_id=flush_id, taken_at=taken_at)
    pending, by_key, last_used = contents
    for fieldname, value in pending.items():
        try:
            batch.item_units[redis_keys.parse_item_period_field(fieldname)] = int(value)
        except ValueError:
            batch.unreadable[fieldname] = int(value)
    for fieldname, value in by_key.items():
        try:
            batch.key_day_units[redis_keys.parse_key_day_field(fieldname)] = int(value)
        except ValueError:
            logger.warning("usage_unreadable_key_field", extra={"field": fieldname})
    for fieldname, value in last_used.items():
        try:
            batch.key_last_used[uuid.UUID(fieldname)] = int(float(value))
        except ValueError:
            logger.warning("usage_unreadable_key_field", extra={"field": fieldname})
    return batch


def _taken_at(flush_id: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(flush_id[:8], 16), UTC)
    except ValueError:
        return utcnow()


def _pairs(flat: list[bytes]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
