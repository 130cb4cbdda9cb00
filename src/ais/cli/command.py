"""The `ais` command itself: the Typer app every command registers on, its exit codes, the
settings every command reads, and the runner of a command's async work.

Every command reads the same settings as the server (`ais.config.get_settings`), so a refused
setting stops it the same way. Exit codes (the same for every command): 0 success, 2 a
configuration or usage error (a bad or missing setting, a refused key, a busy port, a wrong
option), 1 a runtime failure; each with one line on stderr saying what to do, never a traceback
(an unexpected error's traceback goes to `$AIS_DATA_DIR/log/cli-errors.log`). A command raises
`_fail(message, code)` rather than printing; the helpers here keep their leading underscore: they
are the cli package's own, not an API for the rest of `ais`.
"""

from __future__ import annotations

import asyncio
import os
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchTableError, OperationalError

# Typer vendors its own click; its usage errors are these classes, not the `click` package's.
from typer._click import exceptions as click_errors

from ais import __version__
from ais.config import ConfigurationError, Settings, get_settings
from ais.ops.running_server import running_server_url, server_file
from ais.runtime import Runtime
from ais.wiring import create_runtime

T = TypeVar("T")

CONFIGURATION_ERROR = 2
RUNTIME_FAILURE = 1

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


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


@contextmanager
def _alembic_errors(settings: Settings, revision: str = "head") -> Iterator[None]:
    # Alembic (and Mako under it) only where a command migrates: every `ais` process, and each
    # `serve --workers N` worker that re-imports the command, starts ~0.3 s faster without it.
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
        raise _fail(f"Migration failed: {_first_line(exc)}.{hint}") from None
    except (DBAPIError, OperationalError, OSError) as exc:
        raise _fail(_database_problem(settings, exc)) from None


def _migrate(settings: Settings, revision: str = "head", *, down: bool = False) -> None:
    # Loads Alembic: only when a command migrates (see `_alembic_errors`).
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


