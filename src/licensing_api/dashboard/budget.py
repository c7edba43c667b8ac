"""The dashboard's budget form: an amount in the plan's major units (e.g. "150.00"), the
thresholds as text ("50, 80, 100"), a hard-stop checkbox; turned into the API's `BudgetChange`
so the form and `PUT /v1/budget` accept exactly the same budgets."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from licensing_api.billing.currencies import minor_unit_exponent
from licensing_api.budgets.schemas import BudgetChange
from licensing_api.errors import BadRequest


class InvalidBudgetForm(BadRequest):
    slug, title = "invalid-budget", "Invalid budget"


def amount_for_form(amount_minor: int, currency: str) -> str:
    """`15000, "usd"` → `"150.00"`: what the form's amount field shows (and accepts back)."""
    exponent = minor_unit_exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-exponent):.{exponent}f}"


def budget_change_from_form(amount: str, thresholds: str, hard_stop: bool, currency: str) -> BudgetChange:
    exponent = minor_unit_exponent(currency)
    try:
        major = Decimal(amount.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidBudgetForm(f"the budget is an amount in {currency.upper()}, e.g. 150.00") from None
    minor = major.scaleb(exponent)
    if not major.is_finite() or minor != minor.to_integral_value():
        raise InvalidBudgetForm(f"the budget is an amount in {currency.upper()} with at most {exponent} decimals")
    try:
        percents = [int(part) for part in thresholds.replace(" ", "").split(",") if part]
    except ValueError:
        raise InvalidBudgetForm("thresholds are whole percentages separated by commas, e.g. 50, 80, 100") from None
    try:
        return BudgetChange(amount=int(minor), thresholds=percents, hard_stop=hard_stop)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise InvalidBudgetForm(f"{field}: {problem['msg']}") from None
