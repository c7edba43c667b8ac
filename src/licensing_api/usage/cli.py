"""`licensing-api usage flush` and `licensing-api usage status`."""

from __future__ import annotations

import uuid
from collections import defaultdict

import typer

from licensing_api.billing.service import item_owners
from licensing_api.cli_support import cli_resources, embedded_redis_note, run, when
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import Resources
from licensing_api.usage import redis_keys, reports
from licensing_api.usage.flusher import FlushReport, flush_once
from licensing_api.usage.lock import FlusherLock
from licensing_api.usage.meter_errors import recent_error_reports
from licensing_api.usage.models import ReportState, UsageReport

usage_app = typer.Typer(help="Usage reporting to Stripe.", no_args_is_help=True)

STATUS_COLUMNS = ("pending_redis", "in_flight", "reported", "failed", "local", "regressed")


@usage_app.command("flush")
def flush() -> None:
    """Flush once now: Redis → ledger → Stripe; prints every report Stripe acknowledged."""

    async def go() -> tuple[FlushReport, list[UsageReport]]:
        async with cli_resources() as resources:
            embedded_redis_note(resources, "the service moves its own counters into the ledger "
                                "(every USAGE_FLUSH_INTERVAL_SECONDS and when it stops); this "
                                "command only sends the ledger's due reports")
            lock = FlusherLock(resources.engine, scope=resources.settings.redis_key_prefix)
            if not await lock.try_acquire():
                typer.echo("note: a service worker is flushing too; running alongside it is safe "
                           "(watermark ranges are written once, Stripe dedupes report ids)", err=True)
            try:
                report = await flush_once(resources)
            finally:
                await lock.release()
            async with session_scope(resources.sessionmaker) as session:
                return report, await reports.waiting_reports(session, utcnow())

    report, waiting = run(go())
    for regression in report.regressions:
        typer.echo(f"regression {regression.item_id} period {regression.period_start_epoch}: Redis "
                   f"holds {regression.found} units, the ledger {regression.watermark} (not reported again)")
    for due, result in report.sent:
        note = " (already recorded by Stripe)" if result.duplicate else ""
        typer.echo(f"reported {due.id} {due.units} units via {result.via}{note}")
    for due in report.settled:
        typer.echo(f"settled {due.id} {due.units} units: found in Stripe's meter summary")
    for due in report.reopened:
        typer.echo(f"reopened {due.id} {due.units} units: not in Stripe's record, sent again next")
    for due, result in report.failed:
        typer.echo(f"failed {due.id} {due.units} units: {_error(result.error)}")
    # Retried just now or earlier: each waits for its next attempt.
    for waiting_report in waiting:
        typer.echo(f"waiting {waiting_report.id} {waiting_report.units} units: attempt "
                   f"{waiting_report.attempts + 1} at {when(waiting_report.next_attempt_at)} "
                   f"(last error: {_error(waiting_report.last_error)})")
    typer.echo(
        f"flush {report.flush_id or '-'}: read {report.counters_read} changed counters, wrote "
        f"{report.taken_units} units to the ledger, {len(report.regressions)} Redis regressions, "
        f"reported {report.units_reported} units in {len(report.sent)} reports, "
        f"{len(report.failed)} failed, {len(waiting)} waiting to retry "
        f"({sum(r.units for r in waiting)} units)"
    )


@usage_app.command("status")
def status() -> None:
    """Units per subscription item: pending in Redis, in flight, reported, failed, local,
    and how far Redis fell below the ledger (regressed); then failed reports, Redis
    regressions and Stripe's meter error reports."""

    async def go() -> tuple[dict[str, dict[str, int]], dict[str, str], list[str], bool]:
        async with cli_resources() as resources:
            blind = embedded_redis_note(resources, "units not yet taken from it are shown as ?, "
                                        "in_flight shows only the ledger's part")
            table = await usage_status(resources)
            async with session_scope(resources.sessionmaker) as session:
                owners = await item_owners(session, [_uuid(item) for item in table if _uuid(item)])
            return table, {str(k): v for k, v in owners.items()}, await _notes(resources), blind

    table, owners, notes, blind = run(go())
    typer.echo("subscription_item                     " + " ".join(f"{c:>13}" for c in STATUS_COLUMNS)
               + "  customer")
    totals = dict.fromkeys(STATUS_COLUMNS, 0)
    for item_id in sorted(table):
        row = table[item_id]
        cells = ["?" if blind and c == "pending_redis" else row.get(c, 0) for c in STATUS_COLUMNS]
        typer.echo(f"{item_id:<38}" + " ".join(f"{cell:>13}" for cell in cells)
                   + f"  {owners.get(item_id, '(no such item)')}")
        for column in STATUS_COLUMNS:
            totals[column] += row.get(column, 0)
    cells = ["?" if blind and c == "pending_redis" else totals[c] for c in STATUS_COLUMNS]
    typer.echo(f"{'total':<38}" + " ".join(f"{cell:>13}" for cell in cells))
    for line in notes:
        typer.echo(line)


async def usage_status(resources: Resources) -> dict[str, dict[str, int]]:
    """Per item (str id): units in each of `STATUS_COLUMNS`."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUS_COLUMNS, 0))
    counters: dict[str, int] = {}
    for shard in range(redis_keys.SHARDS):
        key = resources.settings.redis_key_prefix + redis_keys.period_totals(shard)
        counters.update({_text(k): int(v) for k, v in (await resources.redis.hgetall(key)).items()})  # type: ignore[misc]
    async with session_scope(resources.sessionmaker) as session:
        by_item = await reports.units_by_item_and_state(session)
        marks = await reports.watermarks(session)
    held = {redis_keys.item_period_field(m.subscription_item_id, m.period_start): m for m in marks}
    for fieldname, counter in counters.items():
        mark = held.get(fieldname)
        above = counter - (mark.watermark if mark is not None else 0)
        if above > 0:
            table[_item(fieldname)]["pending_redis"] += above
    for mark in marks:
        if mark.regressed_units:
            table[str(mark.subscription_item_id)]["regressed"] += mark.regressed_units
    column_of = {ReportState.PENDING: "in_flight", ReportState.SENT: "reported",
                 ReportState.FAILED: "failed", ReportState.LOCAL: "local"}
    for item_id, states in by_item.items():
        for state, units in states.items():
            table[str(item_id)][column_of.get(state, state)] += units  # type: ignore[call-overload]
    return dict(table)


async def _notes(resources: Resources) -> list[str]:
    async with session_scope(resources.sessionmaker) as session:
        failed = await reports.failed_reports(session)
        marks = [m for m in await reports.watermarks(session) if m.regressions]
        errors = await recent_error_reports(session)
    lines = [f"failed report {r.id} {r.units} units after {r.attempts} attempts: {_error(r.last_error)}"
             for r in failed]
    lines += [f"redis regression {m.subscription_item_id} period {int(m.period_start.timestamp())}: "
              f"{m.regressions} times, {m.regressed_units} units below the ledger's {m.watermark} "
              f"(last {m.last_regression_at:%Y-%m-%dT%H:%M:%SZ})" for m in marks if m.last_regression_at]
    lines += [f"meter error report {e.id} {e.type}: {e.error_count} errors, {e.reports_failed} of our "
              f"reports ({e.units_failed} units) failed, {e.unmatched} unmatched: {e.summary}" for e in errors]
    unattributed = await resources.redis.hgetall(resources.redis_key(redis_keys.UNATTRIBUTED))  # type: ignore[misc]
    lines += [f"unattributed {_text(k)} {int(v)} units (no such subscription item)" for k, v in unattributed.items()]
    return lines


def _item(fieldname: bytes | str) -> str:
    try:
        return str(redis_keys.parse_item_period_field(fieldname)[0])
    except ValueError:
        return _text(fieldname)


def _uuid(item_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(item_id)
    except ValueError:
        return None


def _error(error: str | None) -> str:
    return error or "no detail recorded"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
