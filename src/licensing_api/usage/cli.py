"""`licensing-api usage flush` and `licensing-api usage status`."""

from __future__ import annotations

from collections import defaultdict

import typer

from licensing_api.cli_support import cli_resources, run
from licensing_api.db import session_scope
from licensing_api.resources import Resources
from licensing_api.usage import ledger, redis_keys
from licensing_api.usage.flusher import UNATTRIBUTED, FlushReport, flush_once
from licensing_api.usage.lock import FlusherLock
from licensing_api.usage.models import ReportState

usage_app = typer.Typer(help="Usage reporting to Stripe.", no_args_is_help=True)

STATUS_COLUMNS = ("pending_redis", "in_flight", "reported", "failed", "local")


@usage_app.command("flush")
def flush() -> None:
    """Flush once now: Redis → ledger → Stripe; prints every report Stripe acknowledged."""

    async def go() -> FlushReport:
        async with cli_resources() as resources:
            lock = FlusherLock(resources.engine, scope=resources.settings.redis_key_prefix)
            if not await lock.try_acquire():
                typer.echo("note: a service worker is flushing too; running alongside it is safe "
                           "(batches are written once, Stripe dedupes report ids)", err=True)
            try:
                return await flush_once(resources)
            finally:
                await lock.release()

    report = run(go())
    for due, result in report.sent:
        note = " (already recorded by Stripe)" if result.duplicate else ""
        typer.echo(f"reported {due.id} {due.units} units via {result.via}{note}")
    for due, result in report.retrying:
        typer.echo(f"retrying {due.id} {due.units} units: {result.error}")
    for due, result in report.failed:
        typer.echo(f"failed {due.id} {due.units} units: {result.error}")
    typer.echo(
        f"flush {report.flush_id or '-'}: took {report.taken_units} units from Redis, "
        f"recovered {len(report.recovered)} in-flight batches, reported {report.units_reported} "
        f"units in {len(report.sent)} reports, {len(report.retrying)} retrying, "
        f"{len(report.failed)} failed"
    )


@usage_app.command("status")
def status() -> None:
    """Units per subscription item: pending in Redis, in flight, reported, failed, local."""

    async def go() -> tuple[dict[str, dict[str, int]], list[str], dict[str, int]]:
        async with cli_resources() as resources:
            table = await usage_status(resources)
            async with session_scope(resources.sessionmaker) as session:
                failed = [f"{r.id} {r.units} units after {r.attempts} attempts: {r.last_error}"
                          for r in await ledger.failed_reports(session)]
            unattributed = {_text(k): int(v) for k, v in (await resources.redis.hgetall(  # type: ignore[misc]
                resources.redis_key(UNATTRIBUTED))).items()}
            return table, failed, unattributed

    table, failed, unattributed = run(go())
    typer.echo("subscription_item                     " + " ".join(f"{c:>13}" for c in STATUS_COLUMNS))
    totals = dict.fromkeys(STATUS_COLUMNS, 0)
    for item_id in sorted(table):
        row = table[item_id]
        typer.echo(f"{item_id:<38}" + " ".join(f"{row.get(c, 0):>13}" for c in STATUS_COLUMNS))
        for column in STATUS_COLUMNS:
            totals[column] += row.get(column, 0)
    typer.echo(f"{'total':<38}" + " ".join(f"{totals[c]:>13}" for c in STATUS_COLUMNS))
    for line in failed:
        typer.echo(f"failed report {line}")
    for fieldname, units in unattributed.items():
        typer.echo(f"unattributed {fieldname} {units} units (no such subscription item)")


async def usage_status(resources: Resources) -> dict[str, dict[str, int]]:
    """Per item (str id): units in each of `STATUS_COLUMNS`."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUS_COLUMNS, 0))
    redis = resources.redis
    for fieldname, value in (await redis.hgetall(resources.redis_key(redis_keys.PENDING))).items():  # type: ignore[misc]
        table[_item(fieldname)]["pending_redis"] += int(value)
    for flush_id in await redis.smembers(resources.redis_key(redis_keys.INFLIGHT)):  # type: ignore[misc]
        key = resources.redis_key(redis_keys.inflight_key(_text(flush_id), redis_keys.PENDING))
        for fieldname, value in (await redis.hgetall(key)).items():  # type: ignore[misc]
            table[_item(fieldname)]["in_flight"] += int(value)
    async with session_scope(resources.sessionmaker) as session:
        by_item = await ledger.units_by_item_and_state(session)
    column_of = {ReportState.PENDING: "in_flight", ReportState.SENT: "reported",
                 ReportState.FAILED: "failed", ReportState.LOCAL: "local"}
    for item_id, states in by_item.items():
        for state, units in states.items():
            table[str(item_id)][column_of.get(state, state)] += units  # type: ignore[call-overload]
    return dict(table)


def _item(fieldname: bytes | str) -> str:
    try:
        return str(redis_keys.parse_item_period_field(fieldname)[0])
    except ValueError:
        return _text(fieldname)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

