import subprocess
import sys

import pytest

from licensing_api.settings import SettingsError, load_settings, unknown_env_file_settings


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
        ("grace_period_days", "seven", "'seven' is not a whole number; use a whole number such as the default, 7"),
        ("usage_flush_interval_seconds", "abc", "'abc' is not a number; use a number such as the default, 60"),
        ("access_log", "maybe", "use true or false such as the default, true"),
        ("prohibited_usage", "ai-input", "PERMITTED_USAGE also names ai-input"),
        ("redis_cluster", "true", "REDIS_URL=redis://host:port of any cluster node"),
        ("usage_shards", "0", "between 1 and 1024"),
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
    assert "settings:" not in message  # always the setting's own name


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


@pytest.mark.parametrize(
    ("host", "port", "links"),
    [
        ("127.0.0.1", "8000", "http://127.0.0.1:8000"),
        ("127.0.0.1", "9123", "http://127.0.0.1:9123"),
        ("0.0.0.0", "8080", "http://127.0.0.1:8080"),
        ("::1", "8081", "http://[::1]:8081"),
        ("crawl.example", "80", "http://crawl.example:80"),
    ],
)
def test_links_follow_the_bound_address_unless_public_base_url_is_set(monkeypatch, host, port, links):
    monkeypatch.setenv("HOST", host)
    monkeypatch.setenv("PORT", port)
    assert load_settings(_env_file=None).public_base_url == links
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://licensing.example/")
    assert load_settings(_env_file=None).public_base_url == "https://licensing.example"


def test_an_unknown_name_in_the_env_file_is_reported_with_the_nearest_setting(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ADMIN_TOKEN=x\nSTRIPE_API_KYE=sk_test_1\nFORWARDED_ALLOW_IPS=10.0.0.2\nZZZ_OTHER=1\n")
    assert unknown_env_file_settings(env_file) == [
        f"{env_file}: STRIPE_API_KYE is not a setting and is ignored; did you mean STRIPE_API_KEY?",
        f"{env_file}: ZZZ_OTHER is not a setting and is ignored",
    ]
    assert unknown_env_file_settings(tmp_path / "missing.env") == []


def test_the_cli_warns_about_an_unknown_env_file_name_and_goes_on(tmp_path):
    (tmp_path / ".env").write_text("USAGE_FLUSH_INTERVAL=5\n")
    result = subprocess.run(
        [sys.executable, "-m", "licensing_api.cli", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "warning: .env: USAGE_FLUSH_INTERVAL is not a setting and is ignored; "
        "did you mean USAGE_FLUSH_INTERVAL_SECONDS?"
    )
