"""The crawler ecosystem's licensing standards: HTTP 402 offers with pay-per-crawl price
headers, RSL 1.0 terms (`/license.xml`, `/robots.txt`, an OLP token endpoint), Web Bot Auth
signature verification and known AI crawler recognition."""
