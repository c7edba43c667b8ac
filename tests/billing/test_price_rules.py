"""`[[price_rules]]`: RFC 9309 path patterns → units per served request; `per_crawl` plans."""

from decimal import Decimal
from pathlib import Path

import pytest

from licensing_api.billing.plans import CatalogueError, load_catalogue
from licensing_api.billing.price_rules import PriceRule, PriceRules, parse_price_rules
from licensing_api.billing.pricing import request_amount_exact
from licensing_api.settings import BUNDLED_PLANS_FILE

RULES = parse_price_rules([
    {"path": "/v1/content$", "units": 0},
    {"path": "/v1/content/science/*", "units": 3},
    {"path": "/v1/content/science/*.md$", "units": 5},
    {"path": "/v1/content/science/tide", "units": 2},
    {"path": "/*/sitemap.xml", "units": 0},
])


@pytest.mark.parametrize(
    ("path", "units"),
    [
        ("/v1/content", 0),  # `$`: the index only
        ("/v1/content/", 1),  # no rule matches: the default
        ("/v1/content/sourdough-chemistry", 1),
        ("/v1/content/science/how-lichens-grow", 3),
        ("/v1/content/science/tide-pools", 2),  # "…/science/tide" (24 characters) beats "…/science/*" (21)
        ("/v1/content/science/notes.md", 5),  # the longest matching pattern wins
        ("/v1/content/science/notes.md.bak", 3),  # `$` anchors the end
        ("/news/sitemap.xml", 0),
        ("/robots.txt", 0),  # always free
        ("/license.xml", 0),
    ],
)
def test_the_longest_matching_pattern_sets_the_units(path, units):
    assert RULES.units_for(path) == units


def test_patterns_match_from_the_start_of_the_path_like_robots_txt():
    rules = PriceRules((PriceRule.of("/science", 4),))
    assert rules.units_for("/science-fiction") == 4  # RFC 9309: a pattern is a prefix
    assert rules.units_for("/v1/science") == 1


def test_percent_encoded_paths_match_their_decoded_pattern():
    rules = PriceRules((PriceRule.of("/caf\u00e9/*", 2),))
    assert rules.units_for("/caf%C3%A9/menu") == 2


def test_equal_length_patterns_keep_the_order_of_the_file():
    rules = parse_price_rules([{"path": "/a*", "units": 7}, {"path": "/*b", "units": 8}])
    assert rules.units_for("/ab") == 7


def test_distinct_units_lists_every_count_a_request_can_have():
    assert RULES.distinct_units() == {0, 1, 2, 3, 5}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "v1/content", "units": 1}, 'starting with "/"'),
        ({"path": "/a$b", "units": 1}, "`$` only as the last"),
        ({"path": "/a", "units": -1}, "whole number from 0"),
        ({"path": "/a", "units": 1.5}, "whole number from 0"),
        ({"path": "/a", "units": True}, "whole number from 0"),
        ({"path": "/a", "units": 1, "price": 2}, "only `path` and `units`"),
    ],
)
def test_invalid_rules_stop_loading_with_the_fix(entry, message, tmp_path: Path):
    plans = tmp_path / "plans.toml"
    rule = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("True", "true") for k, v in entry.items())
    plans.write_text(BUNDLED_PLANS_FILE.read_text() + f"\n[[price_rules]]\n{rule}\n")
    with pytest.raises(CatalogueError, match="price_rules\\[0\\]") as error:
        load_catalogue(plans)
    assert message in str(error.value)


def test_a_pattern_listed_twice_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        parse_price_rules([{"path": "/a", "units": 1}, {"path": "/a", "units": 2}])


def test_the_bundled_catalogue_has_one_per_crawl_plan_per_currency():
    per_crawl = load_catalogue(BUNDLED_PLANS_FILE).per_crawl_plans()
    assert {currency: plan.id for currency, plan in per_crawl.items()} == {
        "usd": "pay-per-crawl", "eur": "pay-per-crawl-eur",
    }


def test_two_per_crawl_plans_in_one_currency_are_refused(tmp_path: Path):
    plans = tmp_path / "plans.toml"
    plans.write_text(BUNDLED_PLANS_FILE.read_text() + """
[plans.another-usd]
kind = "metered"
per_crawl = true
currency = "usd"
unit_amount_decimal = "0.3"
""")
    with pytest.raises(CatalogueError, match="already the USD per-crawl plan"):
        load_catalogue(plans)


def test_a_per_crawl_plan_must_be_metered_without_an_allowance(tmp_path: Path):
    plans = tmp_path / "plans.toml"
    plans.write_text("""
[plans.wrong]
kind = "hybrid"
per_crawl = true
currency = "usd"
base_amount = 100
included_units = 10
unit_amount_decimal = "0.1"
""")
    with pytest.raises(CatalogueError, match="per_crawl: a per-crawl plan is kind"):
        load_catalogue(plans)


HYBRID = load_catalogue(BUNDLED_PLANS_FILE).get("standard").tiers  # 1000 free, then 0.1


@pytest.mark.parametrize(
    ("before", "units", "minor"),
    [
        (0, 3, Decimal(0)),  # inside the allowance
        (998, 3, Decimal("0.1")),  # straddles the allowance: 2 free, 1 paid
        (1000, 3, Decimal("0.3")),
        (5000, 0, Decimal(0)),  # a free path
    ],
)
def test_a_request_costs_the_graduated_amount_its_units_add(before, units, minor):
    assert request_amount_exact(HYBRID, before, units) == minor
