"""What the dashboard's and the console's HTML pages share: templates (each app's folder over
templates/shared, with one set of filters), no caching, the redirect after a form, and
whether cookies are sent over HTTPS only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from licensing_api.billing.pricing import format_amount
from licensing_api.resources import Resources
from licensing_api.settings import PACKAGE_DIR

TEMPLATES_DIR = PACKAGE_DIR / "templates"

# CSP, framing and referrer headers come from security/middleware.py for every HTML page;
# these pages carry secrets (a new key) and per-customer or operator data: never cache them.
NO_STORE = {"Cache-Control": "no-store"}


def page_templates(folder: str, **filters: Callable[..., Any]) -> Jinja2Templates:
    """The templates of `templates/<folder>`, then the shared layout and partials, which
    extend or include the folder's own `base.html`."""
    templates = Jinja2Templates(directory=[TEMPLATES_DIR / folder, TEMPLATES_DIR / "shared"])
    templates.env.filters.update(money=format_amount, when=_when, day=_day, count=_count, **filters)
    return templates


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=NO_STORE)


def cookies_https_only(resources: Resources) -> bool:
    return resources.settings.public_base_url.startswith("https://")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _day(value: date | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def _count(value: int) -> str:
    return f"{value:,}"
