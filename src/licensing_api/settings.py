"""Service settings: environment variables (or `.env`), validated once at start-up.

Names are part of the public contract (`CONTRACT.md`). Nothing else in the code base reads
`os.environ`.
"""

from __future__ import annotations

import difflib
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import (
    Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_CONTENT_DIR = PACKAGE_DIR / "sample_content"
BUNDLED_PLANS_FILE = PACKAGE_DIR / "plans.toml"
CLUSTER_USAGE_SHARDS = 12  # a few hash slots per master of a 3-master cluster, room to grow
# The usage vocabulary of RSL 1.0 (`<permits type="usage">`), https://rslstandard.org/rsl
RSL_USAGE_TOKENS = ("all", "ai-all", "ai-train", "ai-input", "ai-index", "search")


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming the setting and the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(
        "sqlite+aiosqlite:///./var/licensing.db",
        description="SQLAlchemy async URL: postgresql+asyncpg://… or sqlite+aiosqlite:///…",
    )
    redis_url: str = Field(
        "memory://", description="redis://… or memory:// (in-process, one worker only)"
    )
    embedded_redis_file: Path = Field(
        Path("var/embedded-redis.json"),
        description="with REDIS_URL=memory://: where the service keeps its Redis across a restart",
    )
    redis_key_prefix: str = Field(
        "licensing:", description="prefix of every Redis key and channel this service uses"
    )
    redis_cluster: bool = Field(
        False, description="REDIS_URL names any node of a Redis Cluster (usage/redis_keys.py)"
    )
    usage_shards: int | None = Field(
        None,
        description="usage counter shards, one hash slot each; default 1, or 12 with "
        "REDIS_CLUSTER; never change it while Redis holds counters",
    )
    stripe_api_key: SecretStr | None = Field(
        None, description="sk_test_… / sk_live_…; unset turns billing off"
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None, description="whsec_…; several comma-separated during rotation"
    )
    stripe_api_base: str | None = Field(
        None, description="base URL of a Stripe-compatible server (tests, local demos)"
    )
    content_dir: Path = Field(BUNDLED_CONTENT_DIR, description="folder of licensed content")
    plans_file: Path = Field(BUNDLED_PLANS_FILE, description="plan catalogue (TOML)")
    admin_token: SecretStr | None = Field(None, description="bearer token for /admin/*")
    usage_flush_interval_seconds: float = Field(
        60, description="how often usage is reported to Stripe"
    )
    late_usage_grace_minutes: float = Field(
        50,
        description="minutes after a period ends during which its late units are still "
        "stamped inside it; keep it below the Stripe account's invoice finalization grace",
    )
    grace_period_days: int = Field(7, description="access kept after a failed payment")
    grace_check_interval_seconds: float = Field(
        60, description="how often past-due customers whose grace period ended are suspended"
    )
    budget_check_interval_seconds: float = Field(
        30, description="how often budgets are checked against their thresholds (notices)"
    )
    refund_action: Literal["revoke", "suspend"] = Field(
        "revoke", description="account action when a charge is fully refunded"
    )
    dispute_action: Literal["revoke", "suspend"] = Field(
        "revoke", description="account action when a charge is disputed"
    )
    notifier_webhook_url: str | None = Field(
        None, description="URL that receives customer notices as JSON when NOTIFIER=webhook"
    )
    smtp_url: SecretStr | None = Field(
        None, description="smtp://user:password@host:port (smtps:// for TLS) when NOTIFIER=smtp"
    )
    notifier_from_email: str = Field(
        "billing@localhost", description="From: address of customer notice emails"
    )
    notifier: Literal["log", "webhook", "smtp"] = Field(
        "log", description="how customer notices are sent: log | webhook | smtp"
    )

    public_base_url: str = Field(
        "", description="absolute URL crawlers and browsers use; unset: http://HOST:PORT"
    )
    host: str = Field("127.0.0.1", description="address `serve` binds")
    port: int = Field(8000, description="port `serve` binds")
    web_concurrency: int = Field(1, description="uvicorn worker processes for `serve`")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    tally_flush_interval_ms: int = Field(
        200, description="how often each worker moves its usage tally into Redis"
    )
    access_cache_ttl_seconds: float = Field(
        30, description="how long a worker trusts a cached key without re-reading it"
    )
    usage_flush_crash_at: Literal["after_take", "after_ledger", "after_send"] | None = Field(
        None, description="TESTS ONLY: the usage flusher SIGKILLs itself at this step"
    )
    session_secret: SecretStr | None = Field(
        None,
        description="signs dashboard session cookies; unset: random per process (one worker only)",
    )

    # Licensing terms crawlers read in /license.xml (RSL 1.0), /robots.txt and 402 offers.
    license_terms_url: str | None = Field(
        None, description="human-readable licensing terms; unset: this service's /license page"
    )
    license_contact_email: str | None = Field(
        None, description="licensing contact published in license.xml (<legal type=\"contact\">)"
    )
    permitted_usage: str = Field(
        "ai-input ai-index search",
        description="RSL usage tokens a license permits: all ai-all ai-train ai-input ai-index search",
    )
    prohibited_usage: str = Field(
        "ai-train", description="RSL usage tokens a license prohibits (may be empty)"
    )
    robots_rules_file: Path | None = Field(
        None, description="the operator's robots.txt rules; unset: the bundled default rules"
    )
    # Crawler protocols (standards/, bots/, olp/).
    crawler_list_file: Path | None = Field(
        None, description="known AI crawler names, one per line; unset: the bundled list"
    )
    web_bot_auth_max_window_seconds: int = Field(
        3600, description="longest Web Bot Auth signature validity (expires - created) accepted"
    )
    license_token_ttl_seconds: int = Field(
        3600, description="lifetime of an RSL license token issued by POST /olp/token"
    )
    bot_directory_ca_file: Path | None = Field(
        None, description="extra CA certificates trusted for bot key directories (a private CA)"
    )
    # Operations and security (observability/, security/).
    access_log: bool = Field(True, description="one JSON access-log line per request")
    max_request_bytes: int = Field(
        1_048_576, description="largest request body accepted; larger ones get 413"
    )
    cors_origins: str = Field(
        "", description="comma-separated browser origins allowed by CORS; empty: CORS off"
    )
    failed_key_lookup_limit: int = Field(
        20, description="failed API-key lookups per client address per window before 429"
    )
    failed_key_lookup_window_seconds: float = Field(
        60, description="sliding window of the failed API-key lookup limit"
    )
    signup_limit: int = Field(
        5, description="POST /v1/signup attempts per client address per window before 429"
    )
    signup_window_seconds: float = Field(
        3600, description="sliding window of the signup limit"
    )
    prometheus_multiproc_dir: Path | None = Field(
        None, description="prometheus_client multiprocess folder; `serve --workers N>1` sets it"
    )
    # Gateway mode (gateway/): in front of the publisher's own site.
    origin_url: str | None = Field(
        None, description="the publisher's site the gateway proxies (http://…); set: gateway mode"
    )
    gateway_public_url: str | None = Field(
        None, description="the site's public address crawlers use; unset: PUBLIC_BASE_URL"
    )
    gateway_host: str = Field("127.0.0.1", description="address `gateway` binds")
    gateway_port: int = Field(8080, description="port `gateway` binds")
    gateway_crawlers: Literal["known", "all"] = Field(
        "known", description="who is licensed: known AI crawlers and credentialed requests, or all"
    )
    free_paths: str = Field(
        "", description="RFC 9309 path patterns that always pass the gateway free, comma-separated"
    )
    origin_preserve_host: bool = Field(
        True, description="send the client's Host to the origin (false: the origin's own host)"
    )
    origin_connect_timeout_seconds: float = Field(
        5, description="connecting to the origin longer than this answers 504"
    )
    origin_timeout_seconds: float = Field(
        30, description="waiting longer than this for origin bytes answers 504 (or ends the stream)"
    )
    origin_max_connections: int = Field(100, description="pooled connections to the origin per worker")
    sitemap_refresh_seconds: float = Field(
        300, description="how often gateway mode re-reads the origin's sitemaps for GET /v1/content"
    )
    forward_auth_report_address: str | None = Field(
        None, description="host:port (UDP) where the edge's access-log reports bill forward-auth grants"
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "use postgresql+asyncpg://user@host/db or sqlite+aiosqlite:///path.db"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value != "memory://" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:6379/0, rediss://… or memory://")
        return value

    @field_validator("stripe_api_key")
    @classmethod
    def _stripe_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("sk_", "rk_")):
            raise ValueError("use a secret or restricted key (sk_test_…, sk_live_…, rk_…)")
        return value

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _stripe_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secrets = [s.strip() for s in value.get_secret_value().split(",") if s.strip()]
        if not secrets or not all(s.startswith("whsec_") for s in secrets):
            raise ValueError("use the endpoint's signing secret whsec_… (comma-separate several)")
        return value

    @field_validator("stripe_api_base", "public_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("use an absolute http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("content_dir")
    @classmethod
    def _content_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"no such folder {value}; point it at a folder of content")
        return value.resolve()

    @field_validator("plans_file")
    @classmethod
    def _plans_file(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no such file {value}; point it at a plans.toml")
        return value.resolve()

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("use at least 24 random characters (e.g. `openssl rand -hex 24`)")
        return value

    @field_validator("usage_flush_interval_seconds")
    @classmethod
    def _flush_interval(cls, value: float) -> float:
        if not 0.1 <= value <= 3600:
            raise ValueError("use a number of seconds between 0.1 and 3600")
        return value

    @field_validator("late_usage_grace_minutes")
    @classmethod
    def _late_usage_grace(cls, value: float) -> float:
        # Stripe's finalization grace is 1 hour by default and at most 72 hours.
        if not 0 <= value < 72 * 60:
            raise ValueError("use minutes from 0 to below 4320, under the account's "
                             "finalization grace (Stripe's default 60: keep the default 50)")
        return value

    @field_validator("grace_period_days")
    @classmethod
    def _grace_days(cls, value: int) -> int:
        if not 0 <= value <= 90:
            raise ValueError("use a whole number of days between 0 and 90")
        return value

    @field_validator("budget_check_interval_seconds")
    @classmethod
    def _budget_check_interval(cls, value: float) -> float:
        if not 0.05 <= value <= 86400:
            raise ValueError("use a number of seconds between 0.05 and 86400")
        return value

    @field_validator("grace_check_interval_seconds")
    @classmethod
    def _grace_check_interval(cls, value: float) -> float:
        if not 0.05 <= value <= 86400:
            raise ValueError("use a number of seconds between 0.05 and 86400")
        return value

    @field_validator("notifier_webhook_url")
    @classmethod
    def _notifier_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("use an absolute http:// or https:// URL")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("smtp://", "smtps://")):
            raise ValueError("use smtp://user:password@host:587 or smtps://…:465")
        return value

    @field_validator("notifier")
    @classmethod
    def _notifier(cls, value: str, info: ValidationInfo) -> str:
        if value == "webhook" and not info.data.get("notifier_webhook_url"):
            raise ValueError("NOTIFIER=webhook needs NOTIFIER_WEBHOOK_URL; set it or use log")
        if value == "smtp" and not info.data.get("smtp_url"):
            raise ValueError("NOTIFIER=smtp needs SMTP_URL; set it or use log")
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("use a TCP port between 1 and 65535")
        return value

    @field_validator("web_concurrency")
    @classmethod
    def _workers(cls, value: int) -> int:
        if not 1 <= value <= 64:
            raise ValueError("use between 1 and 64 worker processes")
        return value

    @field_validator("redis_cluster")
    @classmethod
    def _cluster_needs_a_node(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not str(info.data.get("redis_url", "")).startswith(("redis://", "rediss://")):
            raise ValueError("use it with REDIS_URL=redis://host:port of any cluster node")
        return value

    @field_validator("usage_shards")
    @classmethod
    def _usage_shards(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 1024:
            raise ValueError("use between 1 and 1024 shards")
        return value

    @field_validator("tally_flush_interval_ms")
    @classmethod
    def _tally_interval(cls, value: int) -> int:
        if not 10 <= value <= 5000:
            raise ValueError("use between 10 and 5000 milliseconds")
        return value

    @field_validator("access_cache_ttl_seconds")
    @classmethod
    def _cache_ttl(cls, value: float) -> float:
        if not 0 <= value <= 3600:
            raise ValueError("use between 0 and 3600 seconds")
        return value

    @field_validator("session_secret")
    @classmethod
    def _session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("use at least 32 random characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("max_request_bytes")
    @classmethod
    def _max_request_bytes(cls, value: int) -> int:
        if not 1024 <= value <= 100 * 1_048_576:
            raise ValueError("use a number of bytes between 1024 and 104857600")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError("use comma-separated origins such as https://app.example.com")
        return value

    @field_validator("failed_key_lookup_limit")
    @classmethod
    def _failed_lookup_limit(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError("use a whole number of lookups between 1 and 100000")
        return value

    @field_validator("failed_key_lookup_window_seconds")
    @classmethod
    def _failed_lookup_window(cls, value: float) -> float:
        if not 1 <= value <= 86_400:
            raise ValueError("use a number of seconds between 1 and 86400")
        return value

    @field_validator("origin_url", "gateway_public_url")
    @classmethod
    def _site_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
            raise ValueError("use an absolute http:// or https:// URL without query, e.g. http://127.0.0.1:8081")
        return value.rstrip("/")

    @field_validator("gateway_port")
    @classmethod
    def _gateway_port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("use a TCP port between 1 and 65535")
        return value

    @field_validator("free_paths")
    @classmethod
    def _free_paths(cls, value: str) -> str:
        for pattern in free_path_patterns(value):
            if not pattern.startswith("/") or "$" in pattern[:-1]:
                raise ValueError(f"{pattern!r}: use path patterns such as /static/* or /$ (`$` only last)")
        return value

    @field_validator("origin_connect_timeout_seconds", "origin_timeout_seconds")
    @classmethod
    def _origin_timeout(cls, value: float) -> float:
        if not 0.01 <= value <= 3600:
            raise ValueError("use a number of seconds between 0.01 and 3600")
        return value

    @field_validator("origin_max_connections")
    @classmethod
    def _origin_max_connections(cls, value: int) -> int:
        if not 1 <= value <= 10_000:
            raise ValueError("use between 1 and 10000 connections")
        return value

    @field_validator("sitemap_refresh_seconds")
    @classmethod
    def _sitemap_refresh(cls, value: float) -> float:
        if not 1 <= value <= 86_400:
            raise ValueError("use a number of seconds between 1 and 86400")
        return value

    @field_validator("forward_auth_report_address")
    @classmethod
    def _report_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("use host:port, e.g. 127.0.0.1:5140")
        return value

    @property
    def site_url(self) -> str:
        """The site's public address in gateway mode (license.xml, robots.txt, Link)."""
        return self.gateway_public_url or self.public_base_url

    @property
    def licenses_a_site(self) -> bool:
        """A site's own URLs are licensed: by the gateway (`ORIGIN_URL`) or by an edge asking
        forward-auth (`GATEWAY_PUBLIC_URL` names the site)."""
        return self.origin_url is not None or self.gateway_public_url is not None

    @property
    def free_path_list(self) -> list[str]:
        return free_path_patterns(self.free_paths)

    @field_validator("signup_limit")
    @classmethod
    def _signup_limit(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError("use a whole number of signups between 1 and 100000")
        return value

    @field_validator("signup_window_seconds")
    @classmethod
    def _signup_window(cls, value: float) -> float:
        if not 1 <= value <= 7 * 86_400:
            raise ValueError("use a number of seconds between 1 and 604800")
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("license_terms_url")
    @classmethod
    def _license_terms_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("use an absolute http:// or https:// URL")
        return value

    @field_validator("license_contact_email")
    @classmethod
    def _license_contact_email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("use an email address such as licensing@example.com")
        return value

    @field_validator("permitted_usage", "prohibited_usage")
    @classmethod
    def _usage_tokens(cls, value: str, info: ValidationInfo) -> str:
        tokens = value.replace(",", " ").split()
        unknown = [t for t in tokens if t not in RSL_USAGE_TOKENS]
        if unknown:
            raise ValueError(f"unknown usage {unknown[0]!r}; use {' '.join(RSL_USAGE_TOKENS)}")
        if info.field_name == "prohibited_usage":  # validated after permitted_usage
            both = set(tokens) & set(str(info.data.get("permitted_usage", "")).split())
            if both:
                raise ValueError(
                    f"PERMITTED_USAGE also names {sorted(both)[0]}; keep it in one of the two"
                )
        return " ".join(tokens)

    @field_validator("robots_rules_file")
    @classmethod
    def _robots_rules_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {value}; point it at your robots.txt rules")
        return value.resolve() if value is not None else None

    @field_validator("crawler_list_file")
    @classmethod
    def _crawler_list_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {value}; create it with `licensing-api crawlers import`")
        return value.resolve() if value is not None else None

    @field_validator("bot_directory_ca_file")
    @classmethod
    def _bot_directory_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {value}; point it at a PEM file of CA certificates")
        return value.resolve() if value is not None else None

    @field_validator("web_bot_auth_max_window_seconds")
    @classmethod
    def _web_bot_auth_max_window(cls, value: int) -> int:
        if not 1 <= value <= 10_000_000_000:
            raise ValueError("use a whole number of seconds from 1 (300 to 3600 is typical)")
        return value

    @field_validator("license_token_ttl_seconds")
    @classmethod
    def _license_token_ttl(cls, value: int) -> int:
        if not 60 <= value <= 30 * 86_400:
            raise ValueError("use a whole number of seconds between 60 and 2592000 (30 days)")
        return value

    @model_validator(mode="after")
    def _links_follow_the_bound_address(self) -> "Settings":
        if not self.public_base_url:
            self.public_base_url = f"http://{link_host(self.host)}:{self.port}"
        return self

    @property
    def billing_enabled(self) -> bool:
        return self.stripe_api_key is not None

    @property
    def webhook_secrets(self) -> list[str]:
        if self.stripe_webhook_secret is None:
            return []
        raw = self.stripe_webhook_secret.get_secret_value()
        return [s.strip() for s in raw.split(",") if s.strip()]

    @property
    def usage_shard_count(self) -> int:
        if self.usage_shards is not None:
            return self.usage_shards
        return CLUSTER_USAGE_SHARDS if self.redis_cluster else 1

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def free_path_patterns(value: str) -> list[str]:
    return [p.strip() for p in value.replace("\n", ",").split(",") if p.strip()]
def link_host(host: str) -> str:
    """The host part of links to a service bound to `host` (a wildcard address means this host)."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; a bad value raises `SettingsError` (one line)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def unknown_env_file_settings(env_file: Path | str = ".env") -> list[str]:
    """One warning per name in `env_file` that is no setting (they are ignored), with the
    nearest setting's name: a typo there would otherwise silently keep the default."""
    from dotenv import dotenv_values

    path = Path(env_file)
    if not path.is_file():
        return []
    known = [name.upper() for name in Settings.model_fields]
    warnings = []
    for name in dotenv_values(path):
        if name.upper() in known or name.upper() in PASSED_THROUGH_VARIABLES:
            continue
        nearest = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {nearest[0]}?" if nearest else ""
        warnings.append(f"{path}: {name} is not a setting and is ignored{hint}")
    return warnings


# Read from the environment by the libraries we run, not by `Settings`.
PASSED_THROUGH_VARIABLES = frozenset({"FORWARDED_ALLOW_IPS"})

_PARSE_ERRORS = {
    "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "bool_parsing": "true or false",
}


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field_name = str(error["loc"][0]) if error["loc"] else ""
        name = field_name.upper() or "settings"
        kind = _PARSE_ERRORS.get(error["type"])
        if kind is not None and field_name in Settings.model_fields:
            default = Settings.model_fields[field_name].default
            shown = str(default).lower() if isinstance(default, bool) else default
            message = f"{error['input']!r} is not {kind}; use {kind} such as the default, {shown}"
        else:
            message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    return "invalid setting " + "; ".join(problems)
