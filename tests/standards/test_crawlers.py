"""Known AI crawlers are recognised from the bundled list and counted by crawler and outcome."""

from __future__ import annotations

import re

import pytest

from licensing_api.standards.crawlers import CrawlerDirectory, load_crawler_names

GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
CLAUDEBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="module")
def directory() -> CrawlerDirectory:
    return CrawlerDirectory.bundled()


@pytest.mark.parametrize(
    ("user_agent", "crawler"),
    [
        (GPTBOT, "GPTBot"),
        (CLAUDEBOT, "ClaudeBot"),
        ("Claude-User/1.0", "Claude-User"),
        ("anthropic-ai", "anthropic-ai"),
        ("Mozilla/5.0 (compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "PerplexityBot"),
        ("CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot"),
        ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", "Bytespider"),
        ("Mozilla/5.0 (compatible) Applebot-Extended/0.1", "Applebot-Extended"),
        ("meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", "Meta-ExternalAgent"),
        ("Mozilla/5.0 (compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)", "Amazonbot"),
        ("cohere-ai", "cohere-ai"),
        ("Google-Extended", "Google-Extended"),
        ("Mozilla/5.0 (compatible; ChatGPT Agent/1.0)", "ChatGPT Agent"),
        ("ChatGPT-User/1.0; +https://openai.com/bot", "ChatGPT-User"),
    ],
)
def test_known_ai_crawlers_are_recognised(directory, user_agent, crawler):
    assert directory.identify(user_agent) == crawler


@pytest.mark.parametrize("user_agent", [FIREFOX, "curl/8.5.0", "python-httpx/0.28", "NotGPTBotish/1.0", ""])
def test_ordinary_clients_are_not_crawlers(directory, user_agent):
    assert directory.identify(user_agent) is None


def test_the_bundled_list_names_its_source_and_the_major_crawlers():
    names = set(load_crawler_names())
    assert {"GPTBot", "ClaudeBot", "Claude-User", "anthropic-ai", "PerplexityBot", "Google-Extended",
            "CCBot", "Bytespider", "Applebot-Extended", "Meta-ExternalAgent", "Amazonbot",
            "cohere-ai"} <= names
    from licensing_api.standards.crawlers import BUNDLED_CRAWLER_LIST
    header = BUNDLED_CRAWLER_LIST.read_text()
    assert "https://github.com/ai-robots-txt/ai.robots.txt (MIT licence), commit " in header
    assert re.search(r"commit [0-9a-f]{40}, \d{4}-\d{2}-\d{2}\.", header)


async def crawler_count(http, crawler: str, outcome: str) -> float:
    """The publisher's view: the counter as `/metrics` exposes it."""
    sample = f'licensing_crawler_requests_total{{crawler="{crawler}",outcome="{outcome}"}} '
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(sample):
            return float(line[len(sample):])
    return 0.0


async def test_crawler_requests_are_counted_by_crawler_and_outcome(client):
    served_before = await crawler_count(client, "GPTBot", "served")
    missing_before = await crawler_count(client, "GPTBot", "not_found")
    await client.get("/license.xml", headers={"User-Agent": GPTBOT})
    await client.get("/no-such-page", headers={"User-Agent": GPTBOT})
    assert await crawler_count(client, "GPTBot", "served") == served_before + 1
    assert await crawler_count(client, "GPTBot", "not_found") == missing_before + 1


async def test_ordinary_clients_are_not_counted(client):
    before = await crawler_count(client, "GPTBot", "served")
    await client.get("/license.xml", headers={"User-Agent": FIREFOX})
    assert await crawler_count(client, "GPTBot", "served") == before
