"""`ais reconcile [--dry-run] [--json]` (SPEC §11): what the `reconcile` command in `ais.cli.payment_commands` runs.

A progress bar over the payments (stderr), then a summary table — or, with `--json`, exactly the
result body on stdout. Structured log lines go to stderr, so `--json` output stays parseable.
Exit code 0 when no payment failed, 1 when some did (their details say why)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ais.audit.service import Actor
from ais.config import Settings
from ais.ops.correlation import new_correlation_id, set_correlation_id
from ais.ops.logging import configure_logging
from ais.reconciliation.schemas import ReconciliationResult
from ais.reconciliation.service import reconcile
from ais.runtime import Runtime

ACTOR = Actor.system("cli")
Work = Callable[[Runtime], Awaitable[ReconciliationResult]]
Runner = Callable[[Settings, Work], ReconciliationResult]


class _CurrentStderr:
    """`sys.stderr` as it is when a line is written (a test runner or rich's live display may swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _logs_to_stderr(level: str) -> None:
    configure_logging(level)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()))  # type: ignore[arg-type]
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_CurrentStderr())


def reconcile_command(settings: Settings, *, dry_run: bool, as_json: bool, run: Runner, out: Console,
                      err: Console) -> int:
    """Run reconciliation once and print it; the exit code."""
    _logs_to_stderr(settings.log_level)
    correlation_id = new_correlation_id()
    set_correlation_id(correlation_id)  # asyncio.run copies this context into the run
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("Reconciling payments" + (" (dry run)" if dry_run else ""), total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run(settings, lambda runtime: reconcile(runtime, dry_run=dry_run, actor=ACTOR, progress=advance))

    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2))
    else:
        _print_tables(result, out)
    return 1 if result.failed else 0


def _print_tables(result: ReconciliationResult, out: Console) -> None:
    mode = "dry run: nothing was changed" if result.dry_run else "applied"
    summary = Table(title=f"Reconciliation ({mode})", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("", justify="right")
    seconds = (result.completed_at - result.started_at).total_seconds()
    for label, value, style in (
        ("Correlation id", result.correlation_id, ""),
        ("Scanned", result.scanned, ""),
        ("Would fix" if result.dry_run else "Fixed", result.fixed, "green" if result.fixed else ""),
        ("Failed", result.failed, "red" if result.failed else ""),
        ("Skipped (in agreement or in progress)", result.skipped, ""),
        ("Took", f"{seconds:.1f} s", ""),
    ):
        summary.add_row(label, Text(str(value), style=style))
    out.print(summary)
    if not result.details:
        return
    details = Table(title="Payments fixed or failed")
    for name in ("Booking", "Payment", "Outcome", "Actions", "Reason"):
        details.add_column(name, overflow="fold")
    for detail in result.details:
        style = "red" if detail.outcome == "failed" else "green"
        retry = " (retryable)" if detail.retryable else ""
        details.add_row(Text(detail.booking_reference), str(detail.payment_id),
                        Text(detail.outcome + retry, style=style), Text(", ".join(detail.actions) or detail.action),
                        Text(detail.reason))
    out.print(details)
