import subprocess
import sys

import pytest

from licensing_api.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("database_url", "mysql://localhost/db", "postgresql+asyncpg://"),
        ("redis_url", "memcached://localhost", "redis://"),
        ("stripe_api_key", "pk_test_123", "sk_test_"),
        ("stripe_webhook_secret", "secret", "whsec_"),
        ("usage_flush_interval_seconds", "0", "between 0.1 and 3600"),
        ("grace_period_days", "-1", "between 0 and 90"),
        ("content_dir", "/no/such/folder", "no such folder"),
        ("plans_file", "/no/such/plans.toml", "no such file"),
        ("admin_token", "short", "at least 24"),
        ("grace_period_days", "seven", "valid integer"),
    ],
)
def test_bad_setting_stops_with_one_line_naming_it(monkeypatch, name, value, fix):
    monkeypatch.setenv(name.upper(), value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "\n" not in message
    assert name.upper() in message
    assert fix in message


def test_embedded_defaults_are_valid(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_KEY", "CONTENT_DIR", "PLANS_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.redis_url == "memory://"
    assert not settings.billing_enabled


def test_rotated_webhook_secrets_are_split(monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old")
    assert load_settings(_env_file=None).webhook_secrets == ["whsec_new", "whsec_old"]


def test_cli_prints_one_line_and_exits_2_on_a_bad_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "licensing_api.cli", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin", "GRACE_PERIOD_DAYS": "400"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: invalid setting GRACE_PERIOD_DAYS: use a whole number of days between 0 and 90"]
