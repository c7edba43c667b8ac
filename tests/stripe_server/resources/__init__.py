"""One module per Stripe resource family; each exposes ``router``."""
