"""The `licensing-api` command line run as an operator runs it: a process of its own, with the
test run's database and Redis in its environment."""

from __future__ import annotations

import os
import subprocess
import sys

from licensing_api.settings import Settings


def run_cli(*args: str, settings: Settings, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        **(extra_env or {}),
    }
    return subprocess.run([sys.executable, "-m", "licensing_api.cli", *args],
                          env=env, capture_output=True, text=True, timeout=60)
