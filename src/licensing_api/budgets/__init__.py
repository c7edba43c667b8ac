"""Spend controls: a customer's budget per billing period, threshold notices, a hard stop."""
