"""Stripe's asynchronous verdict on meter events: error reports close the loop.

Stripe accepts a meter event, validates it later, and reports the ones it rejected (unknown
customer, no meter, bad value, timestamp out of range) in a thin event,
`v1.billing.meter.error_report_triggered` (per meter) or `v1.billing.meter.no_meter_found`,
whose full data (fetched from `/v2/core/events/{id}`) gives per error code a count and
sample errors naming the event `identifier`. Our identifiers are report ids: each report
named becomes `failed` with Stripe's code and message (its units leave "reported"), counted
in `licensing_usage_meter_errors_total` and shown by `usage status` and
`/admin/usage-reports?state=failed`. Errors beyond the samples name no report: they are
counted as unmatched on the stored error report, for an operator to look up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api import metrics
from licensing_api.usage.models import MeterErrorReport, ReportState, UsageReport
from licensing_api.usage.reports import mark_failed

logger = logging.getLogger(__name__)

ERROR_REPORT_TYPES = ("v1.billing.meter.error_report_triggered", "v1.billing.meter.no_meter_found")


async def apply_error_report(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Fail the reports Stripe names; True if any report of ours was named."""
    data = event.get("data") or {}
    reason = data.get("reason") or {}
    named: dict[str, tuple[str, str]] = {}  # identifier → (code, message)
    for error_type in reason.get("error_types") or []:
        code = str(error_type.get("code") or "unknown")
        for sample in error_type.get("sample_errors") or []:
            identifier = ((sample.get("request") or {}).get("identifier")) or ""
            named.setdefault(identifier, (code, str(sample.get("error_message") or "")))
    reports = list(await session.scalars(
        select(UsageReport).where(UsageReport.id.in_(sorted(named))).with_for_update()
    )) if named else []
    rows = []
    for report in reports:
        code, message = named[report.id]
        rows.append({"b_id": report.id, "b_attempts": report.attempts,
                     "b_error": f"rejected by Stripe asynchronously ({code}): {message}"[:1000]})
        metrics.USAGE_METER_ERRORS.labels(code).inc()
    await mark_failed(session, rows)
    error_count = int(reason.get("error_count") or sum(
        int(t.get("error_count") or 0) for t in reason.get("error_types") or []))
    session.add(MeterErrorReport(
        id=event["id"], type=event["type"], meter_id=(event.get("related_object") or {}).get("id"),
        validation_start=_moment(data.get("validation_start")),
        validation_end=_moment(data.get("validation_end")),
        error_count=error_count, reports_failed=len(reports),
        units_failed=sum(r.units for r in reports if r.state != ReportState.LOCAL),
        unmatched=max(error_count - len(reports), 0),
        summary=data.get("developer_message_summary"), reasons=reason.get("error_types") or [],
    ))
    await session.flush()
    if rows:
        metrics.USAGE_REPORTS.labels("failed").inc(len(rows))
    logger.error("usage_meter_error_report", extra={
        "event_id": event["id"], "event_type": event["type"], "error_count": error_count,
        "reports_failed": [r.id for r in reports], "unmatched": max(error_count - len(reports), 0)})
    return bool(reports)


async def recent_error_reports(session: AsyncSession, limit: int = 20) -> list[MeterErrorReport]:
    return list(await session.scalars(
        select(MeterErrorReport).order_by(MeterErrorReport.created_at.desc()).limit(limit)
    ))


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
