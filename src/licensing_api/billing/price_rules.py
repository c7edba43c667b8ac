"""Prices per path: `[[price_rules]]` in `plans.toml`, in RFC 9309 (robots.txt) path syntax.

    [[price_rules]]
    path = "/v1/content/science/*"   # `*` any run of characters, `$` (last) the end of the path
    units = 3                        # one served request counts 3 units; 0 = free

The rule with the longest pattern that matches a request's path wins (RFC 9309's rule of the
most specific match; on equal length the first listed). A path no rule matches counts
`DEFAULT_UNITS`. `/robots.txt` and `/license.xml` are always free, whatever the rules say:
a crawler must be able to read the terms before it agrees to them.

Units, not money, are what a rule sets: the plan's tiers price them, so one rule holds for
every plan and currency, and the units flow unchanged into the tally, Stripe, caps and the
estimate. Matching is memoised per path (bounded), so a steady stream costs a dict lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

DEFAULT_UNITS = 1
ALWAYS_FREE_PATHS = frozenset({"/robots.txt", "/license.xml"})
MAX_UNITS_PER_REQUEST = 1_000_000
MAX_PATTERN_LENGTH = 512
MEMO_LIMIT = 8192


class PriceRuleError(ValueError):
    """A `[[price_rules]]` entry is invalid; the message names it and the fix."""


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """RFC 9309 §2.2.3: `*` matches any sequence of characters, a final `$` the path's end;
    everything else is literal and matches from the start of the path."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    parts = [re.escape(piece) for piece in unquote(body).split("*")]
    return re.compile(".*".join(parts) + ("$" if anchored else ""), re.DOTALL)


@dataclass(frozen=True, slots=True)
class PriceRule:
    pattern: str
    units: int
    regex: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def of(cls, pattern: str, units: int) -> PriceRule:
        return cls(pattern, units, pattern_regex(pattern))

    def matches(self, path: str) -> bool:
        return self.regex.match(path) is not None


@dataclass(slots=True)
class PriceRules:
    """The catalogue's rules, most specific first."""

    rules: tuple[PriceRule, ...] = ()
    memo: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Longest pattern first; `sorted` is stable, so equal lengths keep the file's order.
        self.rules = tuple(sorted(self.rules, key=lambda rule: -len(rule.pattern)))

    def units_for(self, path: str) -> int:
        """Units one served request for `path` counts (0 = free)."""
        units = self.memo.get(path)
        if units is None:
            units = self._match(path)
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()  # random paths must not grow memory without bound
            self.memo[path] = units
        return units

    def rule_for(self, path: str) -> PriceRule | None:
        for rule in self.rules:
            if rule.matches(path):
                return rule
        return None

    def distinct_units(self) -> frozenset[int]:
        """Every unit count a request can have (the request path pre-encodes their prices)."""
        return frozenset({DEFAULT_UNITS, *(rule.units for rule in self.rules)})

    def _match(self, path: str) -> int:
        if path in ALWAYS_FREE_PATHS:
            return 0
        rule = self.rule_for(unquote(path))
        return DEFAULT_UNITS if rule is None else rule.units

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rules)


def parse_price_rules(raw: Any) -> PriceRules:
    """The `price_rules` array of tables of `plans.toml` (absent: no rules)."""
    if raw is None:
        return PriceRules()
    if not isinstance(raw, list):
        raise PriceRuleError("price_rules: use [[price_rules]] tables with `path` and `units`")
    rules: list[PriceRule] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"price_rules[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"path", "units"}:
            raise PriceRuleError(f"{where}: a table with only `path` and `units`")
        pattern = entry.get("path")
        if not isinstance(pattern, str) or not pattern.startswith("/"):
            raise PriceRuleError(f'{where}.path: a path pattern starting with "/", e.g. "/v1/content/news/*"')
        if len(pattern) > MAX_PATTERN_LENGTH or "$" in pattern[:-1] or any(c.isspace() for c in pattern):
            raise PriceRuleError(
                f"{where}.path: no spaces, `$` only as the last character, at most "
                f"{MAX_PATTERN_LENGTH} characters"
            )
        if pattern in seen:
            raise PriceRuleError(f"{where}.path: {pattern!r} is listed twice; keep one")
        seen.add(pattern)
        units = entry.get("units")
        if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= MAX_UNITS_PER_REQUEST:
            raise PriceRuleError(
                f"{where}.units: a whole number from 0 (free) to {MAX_UNITS_PER_REQUEST}"
            )
        rules.append(PriceRule.of(pattern, units))
    return PriceRules(tuple(rules))
