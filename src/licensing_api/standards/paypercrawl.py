"""Pay per crawl, as Cloudflare defines it: the crawler's price limit against this request's price.

Request headers (a crawler sends at most one):
- `crawler-exact-price: USD 0.01`: serve only at exactly this price (the `crawler-price` of
  an earlier 402);
- `crawler-max-price: USD 0.02`: serve at any price up to this one, charging the real price.

Response headers: `crawler-price` (the real price, on a 402), `crawler-charged` (what a served
request cost), `crawler-error` (why a request was refused, with Cloudflare's codes).

A price is a three-letter currency code, one space and a non-negative decimal in the
currency's major unit (`USD 0.01`). Prices compare as numbers (`USD 0.010` equals `USD 0.01`);
a limit in another currency than the price never matches it.

`price_decision(limit, price)` is the whole rule; the request path calls it only when the
request carries a price header (`read_price_limit` returns None otherwise), so a crawler that
sends none pays its plan's price as it always has.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal

from licensing_api.billing.pricing import minor_unit_exponent, to_major_units
from licensing_api.errors import ProblemError

CRAWLER_PRICE = "crawler-price"
CRAWLER_EXACT_PRICE = "crawler-exact-price"
CRAWLER_MAX_PRICE = "crawler-max-price"
CRAWLER_CHARGED = "crawler-charged"
CRAWLER_ERROR = "crawler-error"
PRICE_HEADERS = (CRAWLER_EXACT_PRICE, CRAWLER_MAX_PRICE)

# Cloudflare's example form is "USD 0.01"; at most 12 decimals keeps a Decimal exact and small.
PRICE_PATTERN = re.compile(r"([A-Z]{3}) ([0-9]{1,12}(?:\.[0-9]{1,12})?)")


class CrawlerErrorCode(enum.StrEnum):
    """The `crawler-error` codes of Cloudflare's pay per crawl (their reference table)."""

    CRAWLER_FORBIDDEN = "CrawlerForbidden"  # 403
    STRONG_AUTH_REQUIRED = "StrongAuthRequired"  # 400
    INVALID_SIGNATURE = "InvalidSignature"  # 400
    INVALID_CRAWLER_PRICE_VALUE = "InvalidCrawlerPriceValue"  # 400
    MISSING_CRAWLER_PRICE = "MissingCrawlerPrice"  # 402
    PAYMENT_FAILED = "PaymentFailed"  # 403
    INVALID_CRAWLER_EXACT_PRICE = "InvalidCrawlerExactPrice"  # 402
    INVALID_CRAWLER_MAX_PRICE = "InvalidCrawlerMaxPrice"  # 402
    CONFLICTING_PRICE_HEADERS = "ConflictingPriceHeaders"  # 400
    INVALID_CONTENT_PRICE = "InvalidContentPrice"  # 502
    INTERNAL_ERROR = "InternalError"  # 500


@dataclass(frozen=True, slots=True)
class CrawlerPrice:
    """An amount in a currency's major unit, e.g. USD 0.001."""

    currency: str  # upper case, "USD"
    amount: Decimal

    @classmethod
    def from_minor(cls, amount_minor: Decimal | int, currency: str) -> CrawlerPrice:
        """Minor units of a plan's currency (possibly fractional) → the exact major amount."""
        return cls(currency.upper(), to_major_units(Decimal(amount_minor), currency))

    def amount_text(self) -> str:
        """`0.001`: the exact amount with at least the currency's decimals (`0.00` for nothing)."""
        exponent = minor_unit_exponent(self.currency)
        amount = self.amount
        if amount.as_tuple().exponent > -exponent:  # type: ignore[operator]
            amount = amount.quantize(Decimal(1).scaleb(-exponent))
        return f"{amount:f}"

    def header_value(self) -> str:
        """`USD 0.001`, the pay-per-crawl header form."""
        return f"{self.currency} {self.amount_text()}"

    def accepts(self, other: CrawlerPrice) -> bool:
        return self.currency == other.currency and self.amount == other.amount


def parse_price(text: str) -> CrawlerPrice | None:
    """`"USD 0.01"` → CrawlerPrice; None if the text is not a price."""
    match = PRICE_PATTERN.fullmatch(text.strip())
    if match is None:
        return None
    return CrawlerPrice(match.group(1), Decimal(match.group(2)))


class LimitKind(enum.StrEnum):
    EXACT = "exact"
    MAX = "max"


@dataclass(frozen=True, slots=True)
class PriceLimit:
    kind: LimitKind
    price: CrawlerPrice


class PriceHeaderError(ProblemError):
    """A price header the request path cannot read (400, never charged)."""

    status = 400
    code: CrawlerErrorCode

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={CRAWLER_ERROR: self.code.value})


class ConflictingPriceHeaders(PriceHeaderError):
    slug, title = "conflicting-price-headers", "Both crawler price headers sent"
    code = CrawlerErrorCode.CONFLICTING_PRICE_HEADERS


class InvalidCrawlerPriceValue(PriceHeaderError):
    slug, title = "invalid-crawler-price", "Malformed crawler price"
    code = CrawlerErrorCode.INVALID_CRAWLER_PRICE_VALUE


class PriceNotAccepted(ProblemError):
    """The request costs more than the crawler's maximum, or not its exact price: 402 with the
    real price, so the crawler can decide and retry with `crawler-exact-price`."""

    status, slug, title = 402, "price-not-accepted", "Price not accepted"

    def __init__(self, detail: str, *, price: CrawlerPrice, code: CrawlerErrorCode,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(
            detail,
            headers={**(headers or {}), CRAWLER_PRICE: price.header_value(), CRAWLER_ERROR: code.value},
            crawler_price=price.header_value(),
        )
        self.price = price
        self.code = code


def read_price_limit(exact: str | None, maximum: str | None) -> PriceLimit | None:
    """The crawler's declared limit from its two headers (None: no limit declared)."""
    if exact is not None and maximum is not None:
        raise ConflictingPriceHeaders(
            f"send either {CRAWLER_EXACT_PRICE} or {CRAWLER_MAX_PRICE}, not both"
        )
    raw, kind = (exact, LimitKind.EXACT) if exact is not None else (maximum, LimitKind.MAX)
    if raw is None:
        return None
    price = parse_price(raw)
    if price is None:
        name = CRAWLER_EXACT_PRICE if kind is LimitKind.EXACT else CRAWLER_MAX_PRICE
        raise InvalidCrawlerPriceValue(
            f"{name} must be a currency code and an amount, e.g. USD 0.01"
        )
    return PriceLimit(kind, price)


def price_decision(limit: PriceLimit | None, price: CrawlerPrice) -> None:
    """Serve (return) or refuse with `PriceNotAccepted` (402, the real price)."""
    if limit is None:
        return
    offered = limit.price
    if limit.kind is LimitKind.EXACT:
        if not offered.accepts(price):
            raise PriceNotAccepted(
                f"this request costs {price.header_value()}, not {offered.header_value()}; "
                f"retry with {CRAWLER_EXACT_PRICE}: {price.header_value()}",
                price=price, code=CrawlerErrorCode.INVALID_CRAWLER_EXACT_PRICE,
            )
        return
    if offered.currency != price.currency or offered.amount < price.amount:
        raise PriceNotAccepted(
            f"this request costs {price.header_value()}, above your "
            f"{CRAWLER_MAX_PRICE} of {offered.header_value()}",
            price=price, code=CrawlerErrorCode.INVALID_CRAWLER_MAX_PRICE,
        )
