"""SPEC §11: exit 0 on success, 2 for configuration and usage errors, 1 for runtime failures —
each with one line on stderr saying what to fix, never a traceback (a test per case)."""

from __future__ import annotations

import secrets
import socket

import pytest

from tests.cli.support import Operator, assert_one_line_error, query

# Every command that reads the settings, with arguments that would otherwise be valid.
SETTINGS_COMMANDS = (
    ("serve", "--no-demo"), ("worker",), ("scheduler",), ("reconcile", "--dry-run"), ("db", "upgrade"),
    ("db", "current"), ("db", "downgrade", "base", "--yes"), ("seed", "--demo"),
    ("create-admin", "--email", "ops@example.com", "--password", "Long-enough passphrase 2026"),
    ("backup", "backup.dump"),
)


@pytest.mark.parametrize("command", SETTINGS_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_production_without_its_settings_exits_2_naming_them_all(operator: Operator, command):
    result = operator.run(*command, AIS_ENV="production")
    line = assert_one_line_error(result, 2, "AIS_ENV=production cannot start")
    for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "REFRESH_TOKEN_PEPPER", "STRIPE_SECRET_KEY",
                 "STRIPE_WEBHOOK_SECRET", "PUBLIC_BASE_URL", "SMTP_URL"):
        if name != "DATABASE_URL":  # the operator's shell sets DATABASE_URL (a SQLite one is refused too)
            assert name in line, (name, line)


@pytest.mark.parametrize("command", SETTINGS_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_a_live_stripe_key_outside_production_exits_2(operator: Operator, command):
    key = "sk_live_" + secrets.token_hex(12)
    result = operator.run(*command, STRIPE_SECRET_KEY=key)
    line = assert_one_line_error(result, 2, "STRIPE_SECRET_KEY", "live key", "AIS_ENV=production")
    assert key not in line  # the key itself is never printed


def test_a_restricted_live_key_is_refused_too(operator: Operator):
    assert_one_line_error(operator.run("serve", STRIPE_SECRET_KEY="rk_live_" + secrets.token_hex(12)), 2,
                          "live key")


def test_an_invalid_setting_exits_2(operator: Operator):
    assert_one_line_error(operator.run("db", "current", HOLD_MINUTES="soon"), 2, "HOLD_MINUTES")


@pytest.mark.parametrize("args", [("serve", "--bogus"), ("db", "downgrade"), ("serve", "--port", "0"),
                                  ("no-such-command",), ("restore", "/nonexistent/backup.dump")])
def test_usage_errors_exit_2(operator: Operator, args):
    assert_one_line_error(operator.run(*args), 2, "Error:")


def test_a_busy_port_exits_2_before_the_banner_and_before_migrating(operator: Operator):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = operator.run("serve", "--port", str(port))
    assert_one_line_error(result, 2, f"Port {port}", "in use", "--port")
    assert "API docs" not in result.out
    assert "no revision" in operator.run("db", "current").out  # nothing was migrated


@pytest.mark.parametrize("command", [("db", "current"), ("db", "upgrade"), ("seed", "--demo"),
                                     ("create-admin", "--email", "ops@example.com")])
def test_an_unreachable_database_is_one_line_and_exit_1(operator: Operator, command):
    unreachable = "postgresql://ais:secret-pw@127.0.0.1:1/ais"
    result = operator.run(*command, DATABASE_URL=unreachable)
    line = assert_one_line_error(result, 1, "Database error", "127.0.0.1:1")
    assert "secret-pw" not in line


def test_a_missing_postgres_database_is_one_line_and_exit_1(operator: Operator):
    if operator.database_url.startswith("sqlite"):
        pytest.skip("SQLite creates a missing file; the missing schema is the next test")
    missing = operator.database_url.rsplit("/", 1)[0] + "/ais_no_such_database"
    assert_one_line_error(operator.run("db", "current", DATABASE_URL=missing), 1, "does not exist")


@pytest.mark.parametrize("command", [("seed", "--demo"),
                                     ("create-admin", "--email", "ops@example.com", "--password",
                                      "Long-enough passphrase 2026")])
def test_a_database_without_the_schema_points_at_db_upgrade(operator: Operator, command):
    assert_one_line_error(operator.run(*command), 1, "Database error", "ais db upgrade")
    assert query(operator.database_url, "SELECT 1") == [(1,)]
