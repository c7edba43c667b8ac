"""Every table, imported in one place so `Base.metadata` is complete (Alembic, tests)."""

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.billing.models import Plan, PlanKind, Subscription, SubscriptionItem, SubscriptionItemKind
from licensing_api.bots.models import Bot, BotKey, BotStatus
from licensing_api.budgets.models import Budget, BudgetNotice
from licensing_api.db import Base
from licensing_api.keys.models import ApiKey, KeyKind, KeyStatus
from licensing_api.olp.models import LicenseToken
from licensing_api.signup.models import SignupSecret
from licensing_api.usage.models import (
    KeyDailyUsage, MeterErrorReport, ReportState, UsageFlush, UsageReport, UsageWatermark,
)
from licensing_api.webhooks.models import WebhookEvent

__all__ = [
    "AccountState",
    "ApiKey",
    "AuditLogEntry",
    "Base",
    "Bot",
    "BotKey",
    "BotStatus",
    "Budget",
    "BudgetNotice",
    "Customer",
    "KeyDailyUsage",
    "KeyKind",
    "KeyStatus",
    "LicenseToken",
    "MeterErrorReport",
    "Plan",
    "PlanKind",
    "ReportState",
    "SignupSecret",
    "Subscription",
    "SubscriptionItem",
    "SubscriptionItemKind",
    "UsageFlush",
    "UsageReport",
    "UsageWatermark",
    "WebhookEvent",
]
