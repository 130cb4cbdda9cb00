"""SPEC §11: every `ais` command, run as an operator runs it (the installed entry point in a
subprocess, a real database of the suite's kind), for real — not only --dry-run or --help."""

from __future__ import annotations

import re

from ais import __version__
from tests.cli.support import AIS, Operator, assert_one_line_error, fresh_database, query

COMMANDS = ("serve", "worker", "scheduler", "reconcile", "seed", "create-admin", "backup", "restore", "db")
STRONG = "Long-enough passphrase 2026"


def test_version_and_help(operator: Operator):
    version = operator.run("--version")
    assert (version.code, version.out.strip()) == (0, f"ais {__version__}"), version

    help_ = operator.run("--help")
    assert help_.code == 0, help_
    for command in COMMANDS:
        assert re.search(rf"^\W*{command}\s", help_.out, re.MULTILINE), (command, help_.out)
    db_help = operator.run("db", "--help")
    assert db_help.code == 0 and all(name in db_help.out for name in ("upgrade", "downgrade", "current")), db_help


def test_db_upgrade_current_and_downgrade(operator: Operator):
    empty = operator.run("db", "current")
    assert empty.code == 0, empty
    assert "no revision: run `ais db upgrade`" in empty.out, empty

    upgraded = operator.run("db", "upgrade")
    assert upgraded.code == 0, upgraded
    assert "Running upgrade" in upgraded.err and "head" in upgraded.out
    current = operator.run("db", "current")
    assert current.code == 0 and current.out.strip().endswith("(head)."), current
    assert query(operator.database_url, "SELECT count(*) FROM flights") == [(0,)]

    downgraded = operator.run("db", "downgrade", "base")
    assert downgraded.code == 0, downgraded
    assert "no revision" in operator.run("db", "current").out
    assert operator.run("db", "upgrade").code == 0


def test_seed_demo_fills_an_empty_database_once(operator: Operator):
    assert operator.run("db", "upgrade").code == 0
    refused = operator.run("seed")
    assert_one_line_error(refused, 2, "--demo")

    seeded = operator.run("seed", "--demo", "--days", "2")
    assert seeded.code == 0, seeded
    created = int(re.search(r"Created (\d+) flights", seeded.out).group(1))  # type: ignore[union-attr]
    assert created > 0
    assert query(operator.database_url, "SELECT count(*) FROM flights") == [(created,)]

    again = operator.run("seed", "--demo", "--days", "2")
    assert again.code == 0 and "Created 0 flights" in again.out, again


def test_create_admin_creates_promotes_and_refuses_a_short_password(operator: Operator):
    assert operator.run("db", "upgrade").code == 0

    short = operator.run("create-admin", "--email", "ops@example.com", "--password", "short")
    assert_one_line_error(short, 2, "password")
    assert query(operator.database_url, "SELECT count(*) FROM users") == [(0,)]

    created = operator.run("create-admin", "--email", "Ops@Example.com", "--password", STRONG)
    assert created.code == 0 and "Created admin ops@example.com" in created.out, created
    assert query(operator.database_url, "SELECT email, role FROM users") == [("ops@example.com", "admin")]

    # An existing passenger is promoted, password and sessions kept.
    hashes_before = query(operator.database_url, "SELECT password_hash FROM users")
    operator_env_user = "pax@example.com"
    made = operator.run("create-admin", "--email", operator_env_user, "--password", STRONG)
    assert made.code == 0
    query(operator.database_url, f"UPDATE users SET role = 'passenger' WHERE email = '{operator_env_user}'")
    promoted = operator.run("create-admin", "--email", operator_env_user)
    assert promoted.code == 0 and "promoted to admin" in promoted.out, promoted
    assert query(operator.database_url, f"SELECT role FROM users WHERE email = '{operator_env_user}'") == [("admin",)]
    assert query(operator.database_url, "SELECT password_hash FROM users WHERE email = 'ops@example.com'") \
        == hashes_before
    actions = {row[0] for row in query(operator.database_url, "SELECT action FROM audit_log")}
    assert {"admin.create", "admin.promote"} <= actions


def test_create_admin_checks_the_first_entry_and_lets_the_operator_try_again(operator: Operator):
    """A short password is refused as soon as it is typed (not after the confirmation), and the
    prompt comes back instead of the command exiting."""
    assert operator.run("db", "upgrade").code == 0

    typed = operator.run("create-admin", "--email", "night@example.com", input=f"short\n{STRONG}\n{STRONG}\n")

    assert typed.code == 0, typed
    assert "Created admin night@example.com" in typed.out
    assert "Try again" in typed.err and "at least 10 characters" in typed.err, typed
    assert typed.out.count("Repeat the password") == 1, typed  # never asked to repeat the short one
    assert "Traceback" not in typed.err

    mismatched = operator.run("create-admin", "--email", "day@example.com",
                              input=f"{STRONG}\nsomething else entirely\n{STRONG}\n{STRONG}\n")
    assert mismatched.code == 0 and "differ" in mismatched.err, mismatched

    gave_up = operator.run("create-admin", "--email", "eve@example.com", input="a\nb\nc\n")
    assert gave_up.code == 2 and "No acceptable password" in gave_up.err, gave_up
    assert query(operator.database_url, "SELECT count(*) FROM users WHERE email = 'eve@example.com'") == [(0,)]


def test_backup_and_restore_into_a_fresh_database(operator: Operator, tmp_path):
    assert operator.run("db", "upgrade").code == 0
    assert operator.run("seed", "--demo", "--days", "1").code == 0
    assert operator.run("create-admin", "--email", "ops@example.com", "--password", STRONG).code == 0
    counts = {table: query(operator.database_url, f"SELECT count(*) FROM {table}")
              for table in ("flights", "cabins", "airports", "users", "audit_log")}
    file = tmp_path / "backups" / "ais.dump"

    made = operator.run("backup", str(file))
    assert made.code == 0 and file.exists() and "Backup written" in made.out, made
    assert file.stat().st_mode & 0o077 == 0  # it holds password hashes

    with fresh_database() as other_url:
        other = Operator(data_dir=operator.data_dir, database_url=other_url)
        if other_url.startswith("sqlite"):
            pass  # SQLite restores into a file that need not exist yet
        else:
            assert other.run("db", "upgrade").code == 0  # an older schema is replaced whole
        restored = other.run("restore", str(file), "--yes")
        assert restored.code == 0, restored
        for table, count in counts.items():
            assert query(other_url, f"SELECT count(*) FROM {table}") == count, table
        assert other.run("db", "current").out.strip().endswith("(head).")

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not a backup")
    assert_one_line_error(operator.run("restore", str(not_a_backup), "--yes"), 1)
    assert query(operator.database_url, "SELECT count(*) FROM flights") == counts["flights"]


def test_restore_asks_first_and_changes_nothing_when_refused(operator: Operator, tmp_path):
    assert operator.run("db", "upgrade").code == 0
    file = tmp_path / "ais.dump"
    assert operator.run("backup", str(file)).code == 0
    assert operator.run("seed", "--demo", "--days", "1").code == 0
    flights = query(operator.database_url, "SELECT count(*) FROM flights")

    refused = operator.run("restore", str(file), input="n\n")

    assert refused.code == 1 and "Aborted" in refused.err and "Traceback" not in refused.err, refused
    assert query(operator.database_url, "SELECT count(*) FROM flights") == flights


def test_the_entry_point_is_the_installed_one():
    assert AIS.endswith("/.venv/bin/ais") or AIS.endswith("/bin/ais")
