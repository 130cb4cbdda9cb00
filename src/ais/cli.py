"""The `ais` command: serve the API, run the periodic jobs, migrate, seed, manage admins,
back up and restore the database (SPEC §11).

Every command reads the same settings as the server (`ais.config.get_settings`), so
`AIS_ENV=production` fails fast here too, with the one message naming every problem.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from sqlalchemy.engine import URL, make_url

from ais import __version__
from ais.config import ConfigurationError, Settings, get_settings
from ais.db.urls import is_sqlite
from ais.runtime import Runtime

T = TypeVar("T")

app = typer.Typer(
    name="ais",
    help="AIS: an airline booking backend that keeps seats and money right.",
    no_args_is_help=True,
    add_completion=False,
    # Locals in a traceback would print the settings, secrets included.
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="Schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise _fail(f"Invalid configuration: {problems}.", 2) from None


def _run(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async unit of work with its own engine, closed afterwards."""

    from sqlalchemy.exc import DBAPIError

    async def main() -> T:
        runtime = Runtime.create(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise _fail(
            f"Database error on {_shown_url(settings.effective_database_url)}: {reason} "
            "(is DATABASE_URL right, and has `ais db upgrade` run?)"
        ) from None


def _shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class _MigrationSteps(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().startswith("Running ")


def _migration_logs() -> None:
    """Show each migration step Alembic runs ("Running upgrade a -> b"), readably, on stderr."""
    handler = RichHandler(console=err, show_time=False, show_path=False, show_level=False)
    handler.addFilter(_MigrationSteps())
    logger = logging.getLogger("alembic")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


@contextmanager
def _alembic_errors(revision: str = "head") -> Iterator[None]:
    from alembic.util.exc import CommandError

    try:
        yield
    except CommandError as exc:
        hint = ""
        if revision == "head" and "Can't locate revision" in str(exc):
            hint = (
                " The database was made by a revision this code does not have (while AIS is"
                " pre-release its initial migration is regenerated): recreate that database."
            )
        raise _fail(f"Migration failed: {exc}.{hint}") from None


def _migrate(settings: Settings, revision: str = "head", *, down: bool = False) -> None:
    from ais.db import migrate

    with _alembic_errors(revision):
        (migrate.downgrade if down else migrate.upgrade)(settings, revision)


def _version(value: bool) -> None:
    if value:
        out.print(f"ais {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """AIS: an airline booking backend that keeps seats and money right."""


# --- serve ------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="Do not seed an empty database.")] = False,
) -> None:
    """Run the API.

    Embedded mode (not production) applies the migrations first and, when the database has
    no flights, seeds the demo airports and a month of flights. Production never migrates
    on start: run `ais db upgrade` as a deployment step.
    """
    import uvicorn

    settings = _settings()
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a comparison
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    base_url = f"http://{shown_host}:{port}"
    if not settings.is_production and "public_base_url" not in settings.model_fields_set:
        # Links the server builds for itself (sandbox checkout, webhook delivery) must use the
        # port it really listens on; worker processes inherit the environment.
        os.environ["PUBLIC_BASE_URL"] = base_url
        get_settings.cache_clear()
        settings = _settings()

    if not settings.is_production:
        with err.status(f"Applying migrations to {_shown_url(settings.effective_database_url)} …"):
            _migrate(settings)
        err.print(f"Migrations applied to {_shown_url(settings.effective_database_url)}.")
        if not no_demo:
            created = _run(settings, _seed_if_empty)
            if created is not None:
                err.print(f"Seeded demo data: [bold]{created}[/] flights.")

    from ais.ops.logging import configure_logging

    configure_logging(settings.log_level)
    out.print(f"AIS ({settings.ais_env}) on {base_url} — API docs: [bold cyan]{base_url}/docs[/]", soft_wrap=True)
    uvicorn.run(
        "ais.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app writes one JSON line per request itself
        log_config=None,  # keep the JSON logging configured above (and by create_app in each worker)
        timeout_graceful_shutdown=20,
    )


async def _seed_if_empty(runtime: Runtime) -> int | None:
    from sqlalchemy import select

    from ais.flights.models import Flight
    from ais.flights.seed import seed_demo

    async with runtime.session_factory() as session:
        if await session.scalar(select(Flight.id).limit(1)) is not None:
            return None
        created = await seed_demo(session)
        await session.commit()
        return created


# --- periodic jobs ----------------------------------------------------------------------


def _run_job_runner(settings: Settings) -> None:
    from ais.app import _init_sentry
    from ais.jobs.runner import run_scheduler
    from ais.ops.logging import configure_logging

    configure_logging(settings.log_level)
    _init_sentry(settings)
    if settings.jobs_in_process:
        err.print(
            "Note: in this mode `ais serve` already runs the periodic jobs in process; "
            "a separate job runner is meant for production.",
            style="yellow",
        )
    _run(settings, run_scheduler)


@app.command()
def scheduler() -> None:
    """Run the periodic jobs (hold expiry, departures, cleanup) until SIGTERM.

    Run one scheduler per deployment. On SIGTERM/SIGINT the job that is running finishes first.
    """
    _run_job_runner(_settings())


@app.command()
def worker() -> None:
    """Run the background job runner until SIGTERM.

    In this version the worker and the scheduler share one process model: `ais worker` runs
    the same periodic jobs as `ais scheduler` (hold expiry, departures, cleanup). The job queue
    that workers consume arrives with payments; until then run one of the two per deployment,
    not both.
    """
    _run_job_runner(_settings())


# --- reconciliation ---------------------------------------------------------------------


@app.command()
def reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be fixed; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Compare pending and recent payments with the payment provider; apply what missed webhooks left out.

    Without --dry-run it fixes what it can (as the webhook would have) and writes an audit entry.
    Mismatches it cannot fix are reported. Exit code 0 when no payment failed, 1 otherwise.
    """
    from ais.reconciliation.cli import reconcile_command

    code = reconcile_command(_settings(), dry_run=dry_run, as_json=as_json, run=_run, out=out, err=err)
    raise typer.Exit(code)


# --- migrations -------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REV (default: head)."""
    settings = _settings()
    _migration_logs()
    _migrate(settings, revision)
    out.print(f"{_shown_url(settings.effective_database_url)} is at [bold]{revision}[/].")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (`base` removes every table).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation in production.")] = False,
) -> None:
    """Revert migrations down to REV."""
    settings = _settings()
    if settings.is_production and not yes:
        typer.confirm(f"Downgrade the production database to {revision}? Data may be lost", abort=True)
    _migration_logs()
    _migrate(settings, revision, down=True)
    out.print(f"{_shown_url(settings.effective_database_url)} is at [bold]{revision}[/].")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    from alembic import command

    from ais.db.migrate import alembic_config

    settings = _settings()
    _migration_logs()
    with _alembic_errors():
        command.current(alembic_config(settings))


# --- demo data and admins ---------------------------------------------------------------


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo airports and flights.")] = False,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of flights, from today.")] = 30,
) -> None:
    """Seed the demo airports and DAYS days of flights from today.

    Flights are only added to a database that has none; airports are added when missing.
    """
    if not demo:
        raise _fail("Nothing to seed: pass --demo.", 2)
    settings = _settings()

    async def work(runtime: Runtime) -> int:
        from ais.flights.seed import seed_demo

        async with runtime.session_factory() as session:
            created = await seed_demo(session, days=days)
            await session.commit()
            return created

    with err.status(f"Seeding {days} days of demo flights …"):
        created = _run(settings, work)
    if created:
        out.print(f"Created [bold]{created}[/] flights.")
    else:
        out.print("Created 0 flights: the database already has flights (demo flights only go into an empty one).")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="E-mail of the admin account.")],
    password: Annotated[
        str | None,
        typer.Option(help="New password. Asked for (hidden) when a new account is created without it."),
    ] = None,
    full_name: Annotated[str, typer.Option(help="Name for a new account.")] = "Administrator",
) -> None:
    """Create an admin account, or promote an existing user to admin.

    Promoting keeps the user's password and sessions, unless --password is given: then the
    password is replaced and every refresh token of the user is revoked.
    """
    from ais.identity import repository
    from ais.identity.schemas import RegisterRequest
    from ais.identity.service import normalize_email

    settings = _settings()
    email = normalize_email(email)

    async def find(runtime: Runtime) -> bool:
        async with runtime.session_factory() as session:
            return await repository.user_by_email(session, email) is not None

    exists = _run(settings, find)
    if password is None and not exists:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    # The same rules as POST /api/v1/auth/register; a kept password is not re-validated.
    try:
        if password is None:
            RegisterRequest.model_validate({"email": email, "password": "Placeholder-Pass-2026", "fullName": full_name})
        else:
            RegisterRequest.model_validate({"email": email, "password": password, "fullName": full_name})
    except ValidationError as exc:
        raise _fail("; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors()), 2) from None

    outcome = _run(settings, lambda runtime: _create_or_promote(runtime, email, password, full_name))
    out.print(outcome, soft_wrap=True)


async def _create_or_promote(runtime: Runtime, email: str, password: str | None, full_name: str) -> str:
    from ais.audit.service import Actor, record
    from ais.db.base import utcnow
    from ais.identity import repository
    from ais.identity.models import Role
    from ais.identity.security import hash_password
    from ais.identity.service import register

    actor = Actor.system("cli")
    async with runtime.session_factory() as session:
        user = await repository.user_by_email(session, email)
        if user is None:
            assert password is not None
            user = await register(session, email=email, password=password, full_name=full_name, role=Role.ADMIN)
            record(
                session,
                actor,
                action="admin.create",
                resource_type="user",
                resource_id=str(user.id),
                changes={"role": Role.ADMIN.value},
            )
            outcome = f"Created admin {email} ({user.id})."
        else:
            changes: dict[str, object] = {}
            if user.role != Role.ADMIN:
                changes["role"] = {"from": user.role.value, "to": Role.ADMIN.value}
                user.role = Role.ADMIN
            if password is not None:
                user.password_hash = await hash_password(password)
                await repository.revoke_all(session, user.id, utcnow())
                changes["password_reset"] = True  # and every session revoked
            if changes:
                action = "admin.promote" if "role" in changes else "admin.reset_password"
                record(
                    session,
                    actor,
                    action=action,
                    resource_type="user",
                    resource_id=str(user.id),
                    changes=changes,
                )
            done = ", ".join(
                ["promoted to admin" if "role" in changes else "already an admin"]
                + (["password reset, sessions revoked"] if password is not None else [])
            )
            outcome = f"{email} ({user.id}): {done}."
            if not user.is_active:
                outcome += " Note: this account is deactivated and cannot sign in."
        await session.commit()
    return outcome


# --- backup and restore -----------------------------------------------------------------


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL (any driver suffix) → a libpq URL for pg_dump/pg_restore, and the
    environment carrying the password (kept off the command line, which `ps` shows)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    ssl = query.pop("ssl", None)  # asyncpg's spelling of libpq's sslmode
    if ssl and "sslmode" not in query:
        query["sslmode"] = "require" if ssl in ("true", "True") else ssl
    env = {"PGPASSWORD": str(parsed.password)} if parsed.password else {}
    # URL.set(password=None) would keep the password; build the URL afresh without it.
    libpq = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return libpq.render_as_string(hide_password=False), env


def _pg_tool(args: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise _fail(
            f"{args[0]} not found: install the PostgreSQL client tools (same major version as the server or newer)."
        ) from None
    if result.returncode != 0:
        raise _fail(f"{args[0]} failed:\n{result.stderr.strip()}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise _fail("DATABASE_URL names no SQLite file.")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy one SQLite database into another through the online backup API (consistent even
    while the server writes)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _check_sqlite_backup(file: Path) -> None:
    try:
        with sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True) as check:
            ok = check.execute("PRAGMA quick_check").fetchone()
        check.close()
    except sqlite3.DatabaseError:
        ok = None
    if not ok or ok[0] != "ok":
        raise _fail(f"{file} is not a SQLite backup.")


@app.command()
def backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.", dir_okay=False)]) -> None:
    """Back up the database to FILE: `pg_dump -Fc` for PostgreSQL, the SQLite backup API for SQLite."""
    settings = _settings()
    url = settings.effective_database_url
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial-{secrets.token_hex(4)}")
    try:
        with err.status(f"Backing up {_shown_url(url)} …"):
            if is_sqlite(url):
                source = _sqlite_path(url)
                if not source.exists():
                    raise _fail(f"No database at {source}.")
                _sqlite_copy(source, partial)
            else:
                dsn, env = _libpq(url)
                _pg_tool(["pg_dump", "--format=custom", f"--file={partial}", f"--dbname={dsn}"], env)
        partial.chmod(0o600)  # it holds password hashes and personal data
        os.replace(partial, file)  # a half-written dump never takes the backup's name
    finally:
        partial.unlink(missing_ok=True)
    out.print(f"Backup written to [bold]{file}[/] ({file.stat().st_size:,} bytes).")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A backup made by `ais backup`.", exists=True, dir_okay=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the database's contents with FILE (stop the API and job runners first).

    PostgreSQL: `pg_restore --clean --if-exists --no-owner --no-acl` in one transaction, so a
    failed restore changes nothing. Afterwards run `ais db upgrade` if the backup is older
    than the code.
    """
    settings = _settings()
    url = settings.effective_database_url
    if is_sqlite(url):
        _check_sqlite_backup(file)
    else:
        dsn, env = _libpq(url)
        _pg_tool(["pg_restore", "--list", str(file)], env)  # a readable archive, before asking
    if not yes:
        typer.confirm(f"Replace everything in {_shown_url(url)} with {file}?", abort=True)
    with err.status(f"Restoring {file} …"):
        if is_sqlite(url):
            target = _sqlite_path(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            _sqlite_copy(file, target)
        else:
            _pg_tool(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-acl",
                    "--single-transaction",
                    f"--dbname={dsn}",
                    str(file),
                ],
                env,
            )
    out.print(f"Restored [bold]{file}[/] into {_shown_url(url)}.")


# --- payment sandbox --------------------------------------------------------------------


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 12111,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (above 1: PostgreSQL store).")] = 1,
) -> None:
    """Run the Stripe-compatible payment sandbox as its own server (development and load tests).

    Point the API at it with `STRIPE_API_BASE=http://HOST:PORT/_sandbox/stripe`. It delivers
    webhooks to `SANDBOX_WEBHOOK_URL` (default: `PUBLIC_BASE_URL`/webhooks/stripe) and keeps its
    state in `SANDBOX_DATABASE_URL` (default: a SQLite file in the data dir; PostgreSQL for load).
    Refused in production and with a live key.
    """
    from ais.payments.sandbox.server import SandboxCommandError, run_sandbox_server

    try:
        run_sandbox_server(host=host, port=port, workers=workers,
                           announce=lambda line: out.print(line, markup=False))
    except SandboxCommandError as exc:
        raise _fail(str(exc), exc.exit_code) from None
