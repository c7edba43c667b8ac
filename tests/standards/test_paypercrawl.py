"""The pay-per-crawl rule on its own: the crawler's declared limit against this request's price."""

from decimal import Decimal

import pytest

from licensing_api.standards.paypercrawl import (
    ConflictingPriceHeaders,
    CrawlerPrice,
    InvalidCrawlerPriceValue,
    PriceNotAccepted,
    parse_price,
    price_decision,
    read_price_limit,
)

USD_0_001 = CrawlerPrice("USD", Decimal("0.001"))
FREE = CrawlerPrice("USD", Decimal(0))

# (exact header, max header, this request's price) → None (serve) or (status, crawler-error)
CASES = {
    "no limit": (None, None, USD_0_001, None),
    "max above": (None, "USD 0.01", USD_0_001, None),
    "max equal": (None, "USD 0.001", USD_0_001, None),
    "max below": (None, "USD 0.0001", USD_0_001, (402, "InvalidCrawlerMaxPrice")),
    "max in another currency": (None, "EUR 1.00", USD_0_001, (402, "InvalidCrawlerMaxPrice")),
    "exact equal": ("USD 0.001", None, USD_0_001, None),
    "exact equal, written longer": ("USD 0.0010", None, USD_0_001, None),
    "exact different": ("USD 0.002", None, USD_0_001, (402, "InvalidCrawlerExactPrice")),
    "exact, but the request is free": ("USD 0.001", None, FREE, (402, "InvalidCrawlerExactPrice")),
    "max, and the request is free": (None, "USD 0.0001", FREE, None),
    "both headers": ("USD 0.001", "USD 0.01", USD_0_001, (400, "ConflictingPriceHeaders")),
    "malformed: no currency": (None, "0.01", USD_0_001, (400, "InvalidCrawlerPriceValue")),
    "malformed: lower case": ("usd 0.001", None, USD_0_001, (400, "InvalidCrawlerPriceValue")),
    "malformed: negative": (None, "USD -1", USD_0_001, (400, "InvalidCrawlerPriceValue")),
    "malformed: exponent": (None, "USD 1e-3", USD_0_001, (400, "InvalidCrawlerPriceValue")),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_pay_per_crawl_decision(case):
    exact, maximum, price, expected = CASES[case]
    try:
        price_decision(read_price_limit(exact, maximum), price)
    except (PriceNotAccepted, ConflictingPriceHeaders, InvalidCrawlerPriceValue) as refusal:
        assert expected is not None, f"refused: {refusal.detail}"
        assert (refusal.status, refusal.headers["crawler-error"]) == expected
        if refusal.status == 402:  # the real price, so the crawler can pay it
            assert refusal.headers["crawler-price"] == price.header_value()
        return
    assert expected is None, "served"


@pytest.mark.parametrize(
    ("minor", "currency", "header"),
    [(Decimal("0.1"), "usd", "USD 0.001"), (0, "usd", "USD 0.00"), (Decimal("0.2"), "eur", "EUR 0.002"),
     (150, "usd", "USD 1.50"), (3, "jpy", "JPY 3")],
)
def test_prices_are_written_in_major_units_with_the_currency_decimals(minor, currency, header):
    price = CrawlerPrice.from_minor(minor, currency)
    assert price.header_value() == header
    assert parse_price(header) == price
