"""`ais db upgrade|downgrade|current`, `ais backup`, `ais restore`: the schema and the database's
contents. The work is the database layer's (`ais.db.migrate`, `ais.db.backup`); these commands
print its progress and turn its errors into one line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from ais.cli.command import _fail, _migrate, _run, _settings, _shown_url, app, db_app, err, out
from ais.db import backup as backups


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
    # Loads Alembic: only the commands that need it do (every `ais` process starts faster).
    from ais.db import migrate

    settings = _settings()
    found = _run(settings, lambda runtime: migrate.live_revisions(runtime.engine))
    heads = migrate.code_heads()
    shown = _shown_url(settings.effective_database_url)
    if not found:
        out.print(f"{shown}: no revision: run `ais db upgrade`.")
    elif found == heads:
        out.print(f"{shown}: {', '.join(sorted(found))} (head).")
    else:
        out.print(f"{shown}: {', '.join(sorted(found))}; the code's head is {', '.join(sorted(heads))}: "
                  "run `ais db upgrade`.")


# --- backup and restore -----------------------------------------------------------------


@app.command()
def backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.", dir_okay=False)]) -> None:
    """Back up the database to FILE: `pg_dump -Fc` for PostgreSQL, the SQLite backup API for SQLite."""
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
