"""The `ais` command: serve the API, run the job worker, inspect the job queue, migrate, seed, manage admins,
reconcile payments, back up and restore the database.

Every command reads the same settings as the server (`ais.config.get_settings`), so a refused
setting stops it the same way. Exit codes (the same for every command): 0 success, 2 a
configuration or usage error (a bad or missing setting, a refused key, a busy port, a wrong
option), 1 a runtime failure; each with one line on stderr saying what to do, never a traceback
(an unexpected error's traceback goes to `$AIS_DATA_DIR/log/cli-errors.log`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from sqlalchemy.engine import make_url

# Typer vendors its own click; its usage errors are these classes, not the `click` package's.
from typer._click import exceptions as click_errors

from ais import __version__
from ais.config import ConfigurationError, Settings, get_settings
from ais.runtime import Runtime
from ais.wiring import create_runtime

T = TypeVar("T")

CONFIGURATION_ERROR = 2
RUNTIME_FAILURE = 1
PASSWORD_ATTEMPTS = 3

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _Stopped(Exception):
    """SIGTERM arrived: stop gracefully, clean up, exit 0."""


class _AisCommand(typer.Typer):
    """Runs a command so that every outcome is an exit code plus at most one line on stderr."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().__call__(*args, **kwargs)
        except click_errors.NoArgsIsHelpError:
            sys.exit(CONFIGURATION_ERROR)  # the help was shown
        except click_errors.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            _line(f"Error: {exc.format_message()}{hint}")
            sys.exit(CONFIGURATION_ERROR)
        except click_errors.ClickException as exc:
            _line(f"Error: {exc.format_message()}")
            sys.exit(exc.exit_code)
        except typer.Abort:
            _line("Aborted.")
            sys.exit(RUNTIME_FAILURE)
        except KeyboardInterrupt:
            _line("Interrupted.")
            sys.exit(130)
        except Exception as exc:
            _line(f"Unexpected error: {type(exc).__name__}: {_first_line(exc)} ({_record_traceback()})")
            sys.exit(RUNTIME_FAILURE)
        sys.exit(result if isinstance(result, int) else 0)


app = _AisCommand(
    name="ais",
    help="AIS: an airline booking backend that keeps seats and money right.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # never a traceback on the terminal: _AisCommand prints one line
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="Schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _line(message: str) -> None:
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _record_traceback() -> str:
    """Keep the traceback of an unexpected error in the data dir's log, for whoever investigates."""
    directory = Path(os.environ.get("AIS_DATA_DIR") or "var") / "log"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "cli-errors.log"
        with path.open("a") as log:
            log.write(f"--- {datetime.now(UTC).isoformat()} ais {' '.join(sys.argv[1:])}\n")
            log.write(traceback.format_exc())
    except OSError:
        return "no traceback kept: the data dir is not writable"
    return f"traceback in {path}"


def _fail(message: str, code: int = RUNTIME_FAILURE) -> typer.Exit:
    _line(message)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        raise _fail(str(exc), CONFIGURATION_ERROR) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise _fail(f"Invalid configuration: {problems}.", CONFIGURATION_ERROR) from None


def _settings_reaching_the_server() -> Settings:
    """The settings of a command that talks to the payment provider. Outside production (without
    STRIPE_API_BASE) that is the sandbox of the running `ais serve`: its URL comes from the data dir
    or PUBLIC_BASE_URL, never from a guessed port, where another program would be sent the key."""
    from ais.ops.running_server import running_server_url, server_file

    settings = _settings()
    if settings.is_production or settings.stripe_api_base or settings.public_base_url_is_set:
        return settings
    url = running_server_url(settings.ais_data_dir)
    if url is None:
        raise _fail(
            f"No running AIS server found ({server_file(settings.ais_data_dir)} names none): start `ais serve` "
            "with the same AIS_DATA_DIR, or set PUBLIC_BASE_URL (or STRIPE_API_BASE) to reach its payment sandbox.",
            CONFIGURATION_ERROR,
        )
    return settings.model_copy(update={"public_base_url": url})


def _run(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async unit of work with its own engine, closed afterwards; a database that cannot
    be reached is one line, not a traceback."""
    from sqlalchemy.exc import DBAPIError, NoSuchTableError, OperationalError

    async def main() -> T:
        runtime = create_runtime(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except (DBAPIError, OperationalError, NoSuchTableError, OSError) as exc:
        raise _fail(_database_problem(settings, exc)) from None


def _database_problem(settings: Settings, exc: BaseException) -> str:
    reason = _first_line(exc)
    hint = "is DATABASE_URL right and the database running?"
    if "no such table" in reason or ("does not exist" in reason and "relation" in reason):
        hint = "run `ais db upgrade` first"
    return f"Database error on {_shown_url(settings.effective_database_url)}: {reason} ({hint})"


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
def _alembic_errors(settings: Settings, revision: str = "head") -> Iterator[None]:
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        yield
    except CommandError as exc:
        hint = ""
        if revision == "head" and "Can't locate revision" in str(exc):
            hint = (
                " The database was made by a revision this code does not have (while AIS is"
                " pre-release its initial migration is regenerated): recreate that database."
            )
        raise _fail(f"Migration failed: {_first_line(exc)}.{hint}") from None
    except (DBAPIError, OperationalError, OSError) as exc:
        raise _fail(_database_problem(settings, exc)) from None


def _migrate(settings: Settings, revision: str = "head", *, down: bool = False) -> None:
    from ais.db import migrate

    with _alembic_errors(settings, revision):
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


def _check_port(host: str, port: int) -> None:
    """Fail in one line when the address cannot be listened on, before anything is printed or migrated."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _fail(
                    f"Port {port} on {host} is already in use (another `ais serve`?): stop it, or choose "
                    f'another port: `ais serve --port 9000` (`make run ARGS="--port 9000"`).',
                    CONFIGURATION_ERROR,
                ) from None
            raise _fail(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.", CONFIGURATION_ERROR) from None


def _raise_stopped(_signal: int, _frame: object) -> None:
    raise _Stopped


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="Do not seed an empty database.")] = False,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Run no job worker in this server (run `ais worker`s).")
    ] = False,
) -> None:
    """Run the API.

    Embedded mode (not production) applies the migrations first and, when the database has
    no flights, seeds the demo airports and a month of flights. Production never migrates
    on start: run `ais db upgrade` as a deployment step.
    """
    from ais.ops import metrics_dir, running_server

    settings = _settings()
    _check_port(host, port)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a comparison
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    base_url = f"http://{shown_host}:{port}"
    # Worker processes read the environment: what they must agree on goes there.
    if not settings.is_production and not settings.public_base_url_is_set:
        # Links the server builds for itself (sandbox checkout, webhook delivery) use the port it listens on.
        os.environ["PUBLIC_BASE_URL"] = base_url
    if no_worker:
        os.environ["RUN_JOBS_IN_PROCESS"] = "false"
    get_settings.cache_clear()
    settings = _settings()
    metrics_dir.prepare(settings.ais_data_dir / "metrics" / f"serve-{port}")

    if not settings.is_production:
        with err.status(f"Applying migrations to {_shown_url(settings.effective_database_url)} …"):
            _migrate(settings)
        err.print(f"Migrations applied to {_shown_url(settings.effective_database_url)}.")
        if not no_demo:
            created = _run(settings, _seed_if_empty)
            if created is not None:
                err.print(f"Seeded demo data: [bold]{created}[/] flights.")

    from ais.ops.logging import configure_logging

    configure_logging(settings.log_level, production=settings.is_production)
    if not settings.is_production:
        running_server.announce(settings.ais_data_dir, settings.public_base_url.rstrip("/"))
    out.print(f"AIS ({settings.ais_env}) on {base_url} — API docs: [bold cyan]{base_url}/docs[/]", soft_wrap=True)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        _uvicorn(host, port, workers)
    except _Stopped:
        pass  # uvicorn finished the requests in flight, then re-raised SIGTERM for us
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not settings.is_production:
            running_server.withdraw(settings.ais_data_dir)


def _uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "ais.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app writes one log line per request itself
        log_config=None,  # keep the logging configured above (and by create_app in each worker)
        timeout_graceful_shutdown=20,
        # X-Forwarded-For is trusted only from FORWARDED_ALLOW_IPS, which the app applies itself
        # (uvicorn's default would trust loopback); no `server: uvicorn` banner.
        proxy_headers=False,
        server_header=False,
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

    settings = _settings_reaching_the_server()
    code = reconcile_command(settings, dry_run=dry_run, as_json=as_json, run=_run, out=out, err=err)
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
    """Print the revision the database is at, and whether that is the code's head."""
    from ais.db.migrate import code_heads, database_revisions

    settings = _settings()

    async def revisions(runtime: Runtime) -> frozenset[str]:
        async with runtime.engine.connect() as connection:
            return await connection.run_sync(database_revisions)

    found = _run(settings, revisions)
    heads = code_heads()
    shown = _shown_url(settings.effective_database_url)
    if not found:
        out.print(f"{shown}: no revision: run `ais db upgrade`.")
    elif found == heads:
        out.print(f"{shown}: {', '.join(sorted(found))} (head).")
    else:
        out.print(f"{shown}: {', '.join(sorted(found))}; the code's head is {', '.join(sorted(heads))}: "
                  "run `ais db upgrade`.")


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
        raise _fail("Nothing to seed: pass --demo.", CONFIGURATION_ERROR)
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


def _password_problem(email: str, full_name: str, password: str) -> str | None:
    """The rules of POST /api/v1/auth/register, so an admin password is never weaker than a passenger's."""
    from ais.identity.schemas import RegisterRequest

    try:
        RegisterRequest.model_validate({"email": email, "password": password, "fullName": full_name})
    except ValidationError as exc:
        return "; ".join(f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors())
    return None


def _ask_password(email: str, full_name: str) -> str:
    """Prompt (hidden) until a password passes the rules and is typed twice alike; each entry is
    checked as soon as it is typed, not after the confirmation."""
    for _ in range(PASSWORD_ATTEMPTS):
        password = typer.prompt("Password", hide_input=True)
        problem = _password_problem(email, full_name, password)
        if problem:
            err.print(f"{problem}. Try again.", style="yellow", markup=False, highlight=False)
            continue
        if typer.prompt("Repeat the password", hide_input=True) == password:
            return password
        err.print("The two entries differ. Try again.", style="yellow")
    raise _fail(f"No acceptable password after {PASSWORD_ATTEMPTS} attempts.", CONFIGURATION_ERROR)


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
    from ais.identity import admins
    from ais.identity.service import normalize_email

    settings = _settings()
    email = normalize_email(email)
    # The e-mail and name first (with a stand-in password): a bad one fails before any prompt.
    problem = _password_problem(email, full_name, password or "Placeholder-Pass-2026")
    if problem:
        raise _fail(problem, CONFIGURATION_ERROR)
    if password is None and not _run(settings, lambda runtime: admins.exists(runtime, email)):
        password = _ask_password(email, full_name)
    outcome = _run(settings, lambda runtime: admins.create_or_promote(runtime, email, password, full_name))
    out.print(outcome, soft_wrap=True)


# --- backup and restore -----------------------------------------------------------------


@app.command()
def backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.", dir_okay=False)]) -> None:
    """Back up the database to FILE: `pg_dump -Fc` for PostgreSQL, the SQLite backup API for SQLite."""
    from ais.db import backup as backups

    settings = _settings()
    url = settings.effective_database_url
    try:
        with err.status(f"Backing up {_shown_url(url)} …"):
            backups.backup(url, file)
    except backups.BackupError as exc:
        raise _fail(str(exc)) from None
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
    from ais.db import backup as backups

    settings = _settings()
    url = settings.effective_database_url
    try:
        backups.check_backup(url, file)  # a readable backup, before asking
        if not yes:
            typer.confirm(f"Replace everything in {_shown_url(url)} with {file}?", abort=True)
        with err.status(f"Restoring {file} …"):
            backups.restore(url, file)
    except backups.BackupError as exc:
        raise _fail(str(exc)) from None
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


# The job commands (`ais worker`, `ais scheduler`, `ais jobs`, `ais jobs retry`) live with the jobs.
from ais.jobs.cli import register as _register_job_commands  # noqa: E402 - needs this module's helpers defined

_register_job_commands(app)
