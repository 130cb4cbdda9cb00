"""SPEC §2/§11: settings — production fails fast naming every problem; embedded mode keeps its own
secrets; any DATABASE_URL form operators write reaches the app's driver."""

from __future__ import annotations

import os
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ais.config import ConfigurationError, Settings
from ais.db.engine import create_engine
from ais.db.urls import async_url
from tests.fixtures.backend import BACKEND

ENV_NAMES = (
    "AIS_ENV", "AIS_DATA_DIR", "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "REFRESH_TOKEN_PEPPER",
    "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "SMTP_URL", "SENTRY_DSN", "PUBLIC_BASE_URL",
    "METRICS_TOKEN",
)
REQUIRED = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "REFRESH_TOKEN_PEPPER", "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET", "PUBLIC_BASE_URL", "SMTP_URL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets counts, not whatever the machine running the suite exports."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def strong_production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ais_env": "production",
        "database_url": "postgresql://ais:pw@db.internal:5432/ais",
        "redis_url": "redis://cache.internal:6379/0",
        "jwt_secret": secrets.token_urlsafe(48),
        "refresh_token_pepper": secrets.token_urlsafe(48),
        "stripe_secret_key": "sk_live_" + secrets.token_hex(12),
        "stripe_webhook_secret": "whsec_" + secrets.token_hex(16),
        "public_base_url": "https://api.example.com",
        "smtp_url": "smtp://mailer:pw@mail.example.com:587",
    }
    values.update(overrides)
    # None means "not set at all" (PUBLIC_BASE_URL has a local default that only counts when set).
    return Settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})  # type: ignore[call-arg]


def production_error(settings: Settings) -> str:
    with pytest.raises(ConfigurationError) as raised:
        settings.check_production()
    return str(raised.value)


def test_production_with_nothing_names_every_missing_setting_in_one_message():
    message = production_error(Settings(_env_file=None, ais_env="production"))  # type: ignore[call-arg]
    for name in REQUIRED:
        assert name in message, (name, message)
    assert message.count("\n") == 0


def test_production_names_every_weak_or_wrong_setting_at_once():
    settings = strong_production(
        database_url="sqlite:///var/ais.db",
        jwt_secret="x" * 31,  # one byte short
        refresh_token_pepper="changeme",
        stripe_secret_key="",
    )
    message = production_error(settings)
    for name in ("DATABASE_URL", "JWT_SECRET", "REFRESH_TOKEN_PEPPER", "STRIPE_SECRET_KEY"):
        assert name in message, (name, message)
    for fine in ("REDIS_URL", "STRIPE_WEBHOOK_SECRET"):
        assert fine not in message
    # The message names problems; it never repeats a secret value.
    assert "x" * 31 not in message


@pytest.mark.parametrize("missing", REQUIRED)
def test_each_required_setting_alone_stops_production(missing):
    message = production_error(strong_production(**{missing.lower(): None}))
    assert missing in message
    assert all(name not in message for name in REQUIRED if name != missing)


def test_jwt_secret_length_counts_bytes_not_characters():
    assert "JWT_SECRET" not in production_error(strong_production(jwt_secret=secrets.token_hex(16), redis_url=None))
    arabic = "أبجدهوزحطيكلمنسع"  # 16 characters, 32 bytes in UTF-8
    assert len(arabic) < 32 <= len(arabic.encode())
    assert "JWT_SECRET" not in production_error(strong_production(jwt_secret=arabic, redis_url=None))


def test_a_complete_strong_production_config_starts_and_invents_no_secret(tmp_path):
    settings = strong_production(ais_data_dir=tmp_path)
    settings.check_production()
    assert settings.with_embedded_secrets() is settings
    assert not (tmp_path / "secrets").exists()
    assert settings.jobs_in_process  # `ais serve` runs a worker unless `--no-worker`, production too
    assert not settings.model_copy(update={"run_jobs_in_process": False}).jobs_in_process


def test_production_never_falls_back_to_a_generated_secret(tmp_path):
    settings = Settings(_env_file=None, ais_env="production", ais_data_dir=tmp_path)  # type: ignore[call-arg]
    with_secrets = settings.with_embedded_secrets()
    assert with_secrets.jwt_secret is None and with_secrets.refresh_token_pepper is None
    assert with_secrets.stripe_secret_key is None and with_secrets.stripe_webhook_secret is None


def test_production_reads_the_documented_environment_variables(monkeypatch, tmp_path):
    values = {
        "AIS_ENV": "production",
        "AIS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://ais:pw@db/ais",
        "REDIS_URL": "redis://cache:6379/0",
        "JWT_SECRET": secrets.token_urlsafe(40),
        "REFRESH_TOKEN_PEPPER": secrets.token_urlsafe(40),
        "STRIPE_SECRET_KEY": "sk_live_abc",
        "STRIPE_WEBHOOK_SECRET": "whsec_abc",
        "PUBLIC_BASE_URL": "https://api.example.com",
        "SMTP_URL": "smtps://mailer:pw@mail.example.com",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    settings.check_production()
    assert settings.is_production and settings.jwt_secret == values["JWT_SECRET"]

    monkeypatch.delenv("JWT_SECRET")
    assert "JWT_SECRET" in production_error(Settings(_env_file=None))  # type: ignore[call-arg]


def test_development_needs_no_configuration_at_all(tmp_path):
    settings = Settings(_env_file=None, ais_data_dir=tmp_path)  # type: ignore[call-arg]
    settings.check_production()  # nothing to check outside production
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.jobs_in_process


# --- embedded secrets --------------------------------------------------------------------------

SECRET_NAMES = ("jwt_secret", "refresh_token_pepper", "stripe_webhook_secret", "stripe_secret_key")


def embedded(data_dir: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, ais_data_dir=data_dir, **values).with_embedded_secrets()  # type: ignore[call-arg]


def test_embedded_mode_generates_secrets_once_and_reuses_them(tmp_path):
    first = embedded(tmp_path)
    second = embedded(tmp_path)

    for name in SECRET_NAMES:
        value = getattr(first, name)
        assert value and value == getattr(second, name), name
    assert len(first.jwt_secret.encode()) >= 32 and len(first.refresh_token_pepper.encode()) >= 32
    assert first.jwt_secret != first.refresh_token_pepper
    assert first.stripe_webhook_secret.startswith("whsec_")
    assert first.stripe_secret_key.startswith("sk_test_")


def test_generated_secret_files_are_private(tmp_path):
    embedded(tmp_path)
    directory = tmp_path / "secrets"
    files = sorted(directory.iterdir())
    assert [path.name for path in files] == sorted(SECRET_NAMES)  # no temporary files left behind
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0


def test_generated_secret_files_are_private_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        embedded(tmp_path)
    finally:
        os.umask(old)
    for path in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_each_data_dir_has_its_own_secrets(tmp_path):
    assert embedded(tmp_path / "a").jwt_secret != embedded(tmp_path / "b").jwt_secret


def test_a_configured_secret_wins_over_a_generated_one(tmp_path):
    generated = embedded(tmp_path)
    configured = embedded(tmp_path, jwt_secret="j" * 40)
    assert configured.jwt_secret == "j" * 40
    assert configured.refresh_token_pepper == generated.refresh_token_pepper


def test_processes_starting_together_agree_on_one_secret(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: embedded(tmp_path).jwt_secret, range(16)))
    assert len(set(results)) == 1
    assert [path.name for path in (tmp_path / "secrets").iterdir() if path.name.startswith(".")] == []


# --- DATABASE_URL forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ais:p%40ss@db.internal:5432/ais",
        "postgres://ais:p%40ss@db.internal:5432/ais",
        "postgresql+psycopg2://ais:p%40ss@db.internal:5432/ais",
        "postgresql+psycopg://ais:p%40ss@db.internal:5432/ais",
        "postgresql+asyncpg://ais:p%40ss@db.internal:5432/ais",
    ],
)
def test_every_postgres_url_form_maps_to_the_apps_driver(url):
    mapped = async_url(url)
    assert mapped.drivername == "postgresql+asyncpg"
    assert (mapped.username, mapped.password, mapped.host, mapped.port, mapped.database) == (
        "ais", "p@ss", "db.internal", 5432, "ais"
    )


@pytest.mark.parametrize("url", ["sqlite:///var/ais.db", "sqlite+pysqlite:///var/ais.db"])
def test_sqlite_urls_map_to_aiosqlite(url):
    assert async_url(url).drivername == "sqlite+aiosqlite"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://u@h/db"])
def test_other_databases_are_refused_clearly(url):
    with pytest.raises(ValueError, match="unsupported database"):
        async_url(url)


@pytest.mark.skipif(BACKEND != "postgres", reason="connects to the test PostgreSQL")
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://", "postgresql+psycopg2://"])
async def test_each_url_form_really_connects(database_url, scheme):
    url = scheme + database_url.split("://", 1)[1]
    engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


@pytest.mark.skipif(BACKEND != "postgres", reason="connects to the test PostgreSQL")
async def test_a_url_with_libpq_sslmode_connects(database_url):
    engine = create_engine(Settings(_env_file=None, database_url=database_url + "?sslmode=disable"))  # type: ignore[call-arg]
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


# --- weak secrets, live keys, production URLs (issue 7, items 8, 9, 15) -------------------------


@pytest.mark.parametrize(
    ("changes", "named", "reason"),
    [
        ({"jwt_secret": "a" * 40}, "JWT_SECRET", "single repeated character"),
        ({"refresh_token_pepper": "Z" * 64}, "REFRESH_TOKEN_PEPPER", "single repeated character"),
        ({"jwt_secret": "ab" * 32}, "JWT_SECRET", "repeated pattern"),
        ({"jwt_secret": "changeme-please-to-something-secure-2026"}, "JWT_SECRET", "placeholder"),
        ({"refresh_token_pepper": "<your-secret-here, at least 32 bytes long>"}, "REFRESH_TOKEN_PEPPER",
         "placeholder"),
        ({"jwt_secret": "tooshort"}, "JWT_SECRET", "32 random bytes"),
        ({"stripe_webhook_secret": "whsec_" + "x" * 32}, "STRIPE_WEBHOOK_SECRET", "single repeated character"),
        ({"stripe_secret_key": "sk_live_REPLACE_ME_WITH_YOUR_KEY"}, "STRIPE_SECRET_KEY", "placeholder"),
        ({"metrics_token": "1" * 40}, "METRICS_TOKEN", "single repeated character"),
        ({"metrics_token": "short"}, "METRICS_TOKEN", "32 random bytes"),
    ],
)
def test_production_refuses_weak_secrets_naming_each(changes, named, reason):
    message = production_error(strong_production(**changes))
    assert f"{named} is weak" in message and reason in message, message
    for value in changes.values():
        assert value not in message  # never repeats the secret


def test_production_refuses_one_secret_used_twice():
    shared = secrets.token_urlsafe(48)
    message = production_error(strong_production(jwt_secret=shared, refresh_token_pepper=shared))
    assert "REFRESH_TOKEN_PEPPER is weak (the same value as JWT_SECRET)" in message
    assert shared not in message

    message = production_error(strong_production(jwt_secret=shared, stripe_webhook_secret=shared))
    assert "STRIPE_WEBHOOK_SECRET is weak (the same value as JWT_SECRET)" in message

    pepper = secrets.token_urlsafe(48)
    message = production_error(strong_production(refresh_token_pepper=pepper, metrics_token=pepper))
    assert "METRICS_TOKEN is weak (the same value as REFRESH_TOKEN_PEPPER)" in message


def test_all_weak_secrets_are_named_in_one_message():
    message = production_error(strong_production(jwt_secret="a" * 40, refresh_token_pepper="a" * 40,
                                                 stripe_webhook_secret="whsec_xxxxxxxxxxxxxxxx"))
    assert message.count("\n") == 0
    for name in ("JWT_SECRET", "REFRESH_TOKEN_PEPPER", "STRIPE_WEBHOOK_SECRET"):
        assert f"{name} is weak" in message


def test_random_secrets_are_never_taken_for_weak_ones():
    for _ in range(500):
        settings = strong_production(jwt_secret=secrets.token_urlsafe(32), refresh_token_pepper=secrets.token_hex(32),
                                     metrics_token=secrets.token_urlsafe(24),
                                     stripe_webhook_secret="whsec_" + secrets.token_urlsafe(24))
        assert settings.production_problems() == []


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"public_base_url": None}, "PUBLIC_BASE_URL is missing"),
        ({"public_base_url": "http://api.example.com"}, "PUBLIC_BASE_URL must be an https:// URL"),
        ({"public_base_url": "https://"}, "PUBLIC_BASE_URL must be an https:// URL"),
        ({"smtp_url": None}, "SMTP_URL is missing"),
        ({"smtp_url": "mail.example.com:25"}, "SMTP_URL must look like smtp://"),
    ],
)
def test_production_requires_an_https_public_url_and_smtp(changes, needle):
    assert needle in production_error(strong_production(**changes))


def test_production_reads_public_base_url_and_smtp_from_the_environment(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.example.com")
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example.com:587")
    settings = Settings(_env_file=None, ais_env="production")  # type: ignore[call-arg]
    message = production_error(settings)
    assert "PUBLIC_BASE_URL" not in message and "SMTP_URL" not in message


@pytest.mark.parametrize("prefix", ["sk_live_", "rk_live_"])
def test_a_live_stripe_key_is_refused_outside_production(tmp_path, prefix):
    key = prefix + secrets.token_hex(12)
    settings = Settings(_env_file=None, ais_data_dir=tmp_path, stripe_secret_key=key)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError) as raised:
        settings.check_startup()
    message = str(raised.value)
    assert "STRIPE_SECRET_KEY" in message and "live key" in message and "AIS_ENV=production" in message
    assert key not in message

    strong_production(stripe_secret_key=key).check_startup()  # production is where it belongs
    Settings(_env_file=None, stripe_secret_key="sk_test_" + secrets.token_hex(12)).check_startup()  # type: ignore[call-arg]


def test_create_app_refuses_a_live_key_outside_production(tmp_path):
    from ais.app import create_app

    settings = Settings(_env_file=None, ais_data_dir=tmp_path,  # type: ignore[call-arg]
                        stripe_secret_key="sk_live_" + secrets.token_hex(12)).with_embedded_secrets()
    with pytest.raises(ConfigurationError, match="live key"):
        create_app(settings)


def test_the_sandbox_never_runs_with_a_live_key():
    from ais.payments.sandbox.config import SandboxConfig

    for prefix in ("sk_live_", "rk_live_"):
        with pytest.raises(ValueError, match="live key"):
            SandboxConfig(secret_key=prefix + secrets.token_hex(12), webhook_secret="whsec_" + secrets.token_hex(8),
                          public_base_url="http://127.0.0.1:9999")
