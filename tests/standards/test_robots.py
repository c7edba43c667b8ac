"""/robots.txt: the operator's crawler rules with the RSL `License:` directive and content signals."""

from __future__ import annotations

import pytest

from licensing_api.standards.robots import content_signals


async def test_robots_txt_points_crawlers_at_license_xml_with_an_absolute_url(client, settings):
    response = await client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert f"License: {settings.public_base_url}/license.xml" in lines
    assert "User-agent: *" in lines


async def test_robots_txt_serves_the_operators_own_rules(client_with, settings, tmp_path):
    rules = tmp_path / "robots.txt"
    rules.write_text("User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    async with client_with(settings, robots_rules_file=rules, public_base_url="https://pub.example") as http:
        text = (await http.get("/robots.txt")).text
    assert text.splitlines()[0] == "License: https://pub.example/license.xml"
    assert "User-agent: GPTBot\nDisallow: /" in text
    assert "Disallow: /admin/" not in text


async def test_robots_txt_carries_the_content_signals_of_the_usage_terms(client):
    lines = (await client.get("/robots.txt")).text.splitlines()
    group = lines.index("User-agent: *")
    assert lines[group + 1] == "Content-Signal: search=yes, ai-input=yes, ai-train=no"


@pytest.mark.parametrize(
    ("permitted", "prohibited", "signals"),
    [
        ("ai-input ai-index search", "ai-train", "search=yes, ai-input=yes, ai-train=no"),
        ("all", "", "search=yes, ai-input=yes, ai-train=yes"),
        ("all", "ai-train", "search=yes, ai-input=yes, ai-train=no"),
        ("search", "ai-all", "search=yes, ai-input=no, ai-train=no"),
        ("ai-index", "", None),  # no content signal for indexing alone: the line is left out
    ],
)
def test_content_signals_translate_rsl_usage_tokens(permitted, prohibited, signals):
    assert content_signals(permitted, prohibited) == signals


async def test_a_content_signal_gets_a_wildcard_group_when_the_rules_have_none(client_with, settings, tmp_path):
    rules = tmp_path / "robots.txt"
    rules.write_text("User-agent: GPTBot\nDisallow: /\nContent-Signal: ai-train=yes\n")
    async with client_with(settings, robots_rules_file=rules) as http:
        text = (await http.get("/robots.txt")).text
    assert "ai-train=yes" not in text  # the terms' own signals replace the operator's
    assert text.endswith("User-agent: *\nContent-Signal: search=yes, ai-input=yes, ai-train=no\nAllow: /\n")
