"""CSV export of every customer's usage in the current or the last period."""

from __future__ import annotations

import csv
import io

from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.console.overview import had_last_period, last_period_estimate, last_period_units
from licensing_api.console.periods import billed_customers
from licensing_api.resources import Resources
from licensing_api.usage.service import NoSubscriptionUsage, current_usage
from licensing_api.usage.tally import UsageTally

COLUMNS = ("customer_id", "email", "state", "plan", "period_start", "period_end", "units",
           "estimated_amount", "currency")
PERIODS = ("current", "last")


async def usage_csv(
    session: AsyncSession, resources: Resources, period: str, tally: UsageTally | None
) -> str:
    """`period` is "current" (the `/v1/usage` figures) or "last" (the ledger's)."""
    catalogue = resources.catalogue
    billed = await billed_customers(session, catalogue)
    last_units = await last_period_units(session, catalogue, billed) if period == "last" else {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for b in billed:
        if period == "current":
            try:
                usage = await current_usage(
                    session, resources.redis, resources.settings.redis_key_prefix, catalogue,
                    b.customer.id, tally,
                )
            except NoSubscriptionUsage:
                continue
            start, end, units, amount = usage.period_start, usage.period_end, usage.units, usage.estimated_amount
        else:
            per_plan = last_units[b.customer.id]
            if not had_last_period(b, per_plan):
                continue
            start, end = b.last
            units, amount = sum(per_plan.values()), last_period_estimate(catalogue, b, per_plan)
        writer.writerow([b.customer.id, _safe(b.customer.email), b.customer.state, b.plan.id,
                         start.isoformat(), end.isoformat(), units, amount, b.plan.currency])
    return out.getvalue()


def _safe(cell: str) -> str:
    """No spreadsheet formula injection from a customer-chosen field."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
