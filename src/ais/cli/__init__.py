"""The `ais` command: serve the API, run the job worker, inspect the job queue, migrate, seed, manage admins,
reconcile payments, back up and restore the database.

- `command.py`: the `ais` Typer app, the exit codes, the settings every command reads, the runner
  of a command's async work, migrations (which `serve` applies too)
- `runtime_commands.py`: `serve` (the API's long-running process)
- `job_commands.py`: `worker` (and its old name `scheduler`), `jobs`, `jobs retry`
- `payment_commands.py`: `reconcile`, `sandbox`
- `data_commands.py`: `seed`, `create-admin`
- `database_commands.py`: `db upgrade|downgrade|current`, `backup`, `restore`

Commands are thin: they read their options and settings, run the work of the domain they drive
(each in one unit of work, opened by the domain's function or by the command), and print the
outcome. No SQL here.
"""

# The order of these imports is the order of the commands in `ais --help`.
# isort: off
from ais.cli import runtime_commands, job_commands, payment_commands, data_commands, database_commands
# isort: on
from ais.cli.command import app

__all__ = ["app", "data_commands", "database_commands", "job_commands", "payment_commands", "runtime_commands"]
