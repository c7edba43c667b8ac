"""licensing-api: license web content to AI crawlers and bill them through Stripe."""
