"""`licensing-api crawlers import FILE`: the crawler list regenerated from ai.robots.txt's robots.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from licensing_api.standards.crawler_list import CrawlerListError, crawler_names_from_robots_json
from licensing_api.standards.crawlers import CrawlerDirectory, load_crawler_names

ROBOTS_JSON = {
    "GPTBot": {"operator": "OpenAI"},
    "iaskspider/2.0": {"operator": "iAsk"},
    "meta-externalagent": {}, "Meta-ExternalAgent": {},
    "Brightbot 1.0": {},
    "Spider": {},  # too generic: every crawler library calls itself a spider
    "NewBot-2031": {},
}


def test_names_lose_version_suffixes_case_duplicates_and_generic_words():
    names = crawler_names_from_robots_json(json.dumps(ROBOTS_JSON))
    assert names == ["Brightbot 1.0", "GPTBot", "iaskspider", "Meta-ExternalAgent", "NewBot-2031"]


@pytest.mark.parametrize("text", ["[]", "{}", "not json", '{"a#b": {}}'])
def test_anything_but_a_robots_json_is_refused(text):
    with pytest.raises(CrawlerListError):
        crawler_names_from_robots_json(text)


def import_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "licensing_api.cli", "crawlers", "import", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_import_writes_a_list_the_service_reads_with_its_source(tmp_path):
    source, output = tmp_path / "robots.json", tmp_path / "crawlers.txt"
    source.write_text(json.dumps(ROBOTS_JSON))
    result = import_cli(str(source), "--output", str(output),
                        "--source-commit", "0123456789abcdef0123456789abcdef01234567",
                        "--source-date", "2031-02-03")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"5 crawler names written to {output}"
    text = output.read_text()
    assert "commit 0123456789abcdef0123456789abcdef01234567, 2031-02-03." in text
    directory = CrawlerDirectory(load_crawler_names(output))
    assert directory.identify("Mozilla/5.0 (compatible; NewBot-2031/1.0)") == "NewBot-2031"
    assert directory.identify("iaskspider/2.0 (+https://iask.ai)") == "iaskspider"


def test_import_writes_crawler_list_file_when_it_is_set(tmp_path):
    source, output = tmp_path / "robots.json", tmp_path / "operator-crawlers.txt"
    source.write_text(json.dumps(ROBOTS_JSON))
    output.write_text("OldBot\n")
    result = import_cli(str(source), env_extra={"CRAWLER_LIST_FILE": str(output)})
    assert result.returncode == 0, result.stderr
    assert "commit not recorded" in output.read_text()
    assert "OldBot" not in load_crawler_names(output)


def test_import_of_a_broken_file_fails_with_one_line(tmp_path):
    source = tmp_path / "robots.json"
    source.write_text("[1, 2]")
    result = import_cli(str(source), "--output", str(tmp_path / "out.txt"))
    assert result.returncode == 2
    assert "expected robots.json" in result.stderr
    assert not (tmp_path / "out.txt").exists()


async def test_the_service_counts_crawlers_of_the_configured_list(client_with, settings, tmp_path):
    listed = tmp_path / "crawlers.txt"
    listed.write_text("NewBot-2031\n")
    async with client_with(settings, crawler_list_file=listed) as http:
        await http.get("/license.xml", headers={"User-Agent": "NewBot-2031/1.0"})
        metrics = (await http.get("/metrics")).text
    assert 'licensing_crawler_requests_total{crawler="NewBot-2031",outcome="served"}' in metrics
