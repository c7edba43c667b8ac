"""/robots.txt: the operator's crawler rules with the RSL `License:` directive."""

from __future__ import annotations


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
