"""Fixtures of the usage tests (flusher settings and resources wired to the local Stripe server)."""

from tests.usage.flusher_support import flush_resources, flush_settings

__all__ = ["flush_resources", "flush_settings"]
