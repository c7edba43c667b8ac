"""The test site: a small static site as a publisher's origin serves it, and the plans the
gateway's tests price it with (the pay-per-crawl tests' plans, and the same rules for the
site's paths: /science/* counts 3 units, the home page is free)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from tests.standards.test_pay_per_crawl import PLANS as CONTENT_PLANS

SITE_URL = "http://site.test"
PLANS = CONTENT_PLANS + """
[[price_rules]]
path = "/science/*"
units = 3

[[price_rules]]
path = "/$"
units = 0
"""
ARTICLE = "/articles/sourdough.html"
SCIENCE = "/science/tide-pools.html"
HOME = "/"
BIG_FILE = "/files/big.bin"
BIG_FILE_BYTES = 160 * 1024 * 1024
WARM_UP_FILE = "/files/warm-up.bin"
FREE_ASSET = "/assets/logo.txt"
FREE_PATHS = "/assets/*"

ROBOTS = """User-agent: *
Disallow: /private/
License: https://elsewhere.example/old-license.xml

Sitemap: http://site.test/sitemap-extra.xml
"""
SITEMAP_INDEX = f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{SITE_URL}/sitemap-articles.xml</loc></sitemap>
  <sitemap><loc>{SITE_URL}/sitemap-science.xml.gz</loc></sitemap>
  <sitemap><loc>https://elsewhere.example/sitemap.xml</loc></sitemap>
  <sitemap><loc>{SITE_URL}/sitemap-hostile.xml</loc></sitemap>
</sitemapindex>
"""
SITEMAP_ARTICLES = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{SITE_URL}/articles/sourdough.html</loc><lastmod>2025-11-21</lastmod></url>
  <url><loc>{SITE_URL}/articles/bees.html</loc><lastmod>2025-10-01T08:30:00+02:00</lastmod></url>
  <url><loc>{SITE_URL}/</loc></url>
  <url><loc>https://elsewhere.example/not-ours.html</loc></url>
</urlset>
"""
SITEMAP_SCIENCE = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{SITE_URL}/science/tide-pools.html</loc><lastmod>2026-02</lastmod></url>
  <url><loc>{SITE_URL}/science/lichens.html?print=1</loc><lastmod>2024-02-29T23:59:59Z</lastmod></url>
</urlset>
"""
SITEMAP_EXTRA = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{SITE_URL}/extra/from-robots.html</loc><lastmod>2023-12-31</lastmod></url>
</urlset>
"""
SITEMAP_HOSTILE = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol;</loc></url></urlset>
"""


def build_site(folder: Path, *, big_file: bool = True) -> Path:
    files = {
        "index.html": b"<html><body>Home</body></html>\n",
        "articles/sourdough.html": "<html><body>Sourdough \u2014 wild yeast</body></html>\n".encode(),
        "articles/bees.html": b"<html><body>Bees</body></html>\n",
        "science/tide-pools.html": b"<html><body>Tide pools</body></html>\n",
        "assets/logo.txt": b"a logo\n",
        "robots.txt": ROBOTS.encode(),
        "sitemap.xml": SITEMAP_INDEX.encode(),
        "sitemap-articles.xml": SITEMAP_ARTICLES.encode(),
        "sitemap-science.xml.gz": gzip.compress(SITEMAP_SCIENCE.encode()),
        "sitemap-extra.xml": SITEMAP_EXTRA.encode(),
        "sitemap-hostile.xml": SITEMAP_HOSTILE.encode(),
        "files/warm-up.bin": os.urandom(4 * 1024 * 1024),
    }
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if big_file:
        with (folder / BIG_FILE.lstrip("/")).open("wb") as out:
            block = os.urandom(1024 * 1024)
            for index in range(BIG_FILE_BYTES // len(block)):
                out.write(index.to_bytes(8, "big") + block[8:])  # no two MiB alike
    return folder
