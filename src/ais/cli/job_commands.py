"""The job commands of `ais`: `ais worker` (and its old name `ais scheduler`), `ais jobs` and
`ais jobs retry ID`, in both modes (procrastinate on PostgreSQL, the embedded queue on SQLite).

They use the settings, error and exit-code helpers of `ais.cli.command`, so every command fails
the same way (one line on stderr, exit 2 or 1)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from ais.cli import command as base
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.db.urls import is_sqlite
from ais.jobs import repository
from ais.ops import metrics_dir
from ais.runtime import Runtime

DEFAULT_CONCURRENCY = 4

STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")

MetricsPort = Annotated[
    int | None, typer.Option("--metrics-port", min=1, max=65535, help="Serve this process's metrics on this port.")
]
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Jobs run at once by this worker.")]


def embedded(runtime: Runtime) -> bool:
    return is_sqlite(runtime.settings.effective_database_url)


def _run_worker(metrics_port: int | None, concurrency: int) -> None:
    settings = base._settings_reaching_the_server()
    # Each worker process keeps its metrics apart from the server's; a killed one's are removed.
    parent = settings.ais_data_dir / "metrics"
    metrics_dir.remove_stale(parent, "worker-")
    own = metrics_dir.prepare(parent / f"worker-{os.getpid()}")
    # Imported only now: prometheus_client (which the jobs and the app load) must come after the
    # metrics dir is set, and the `ais` command starts fast without them.
    from prometheus_client import start_http_server

    from ais.app import _init_sentry  # the same: after the metrics dir
    from ais.jobs.worker import run_worker_process  # the same: after the metrics dir
    from ais.ops import metrics  # the same: after the metrics dir
    from ais.ops.logging import configure_logging  # the same: after the metrics dir

    configure_logging(settings.log_level, production=settings.is_production)
    _init_sentry(settings)
    if settings.jobs_in_process and is_sqlite(settings.effective_database_url):
        base.err.print(
            "Note: in embedded mode `ais serve` runs the jobs already; one process runs them at a time "
            "(this one waits while another does).", style="yellow")
    if metrics_port is not None:
        try:
            start_http_server(metrics_port, registry=metrics.registry())
        except OSError as exc:
            raise base._fail(f"Cannot serve metrics on port {metrics_port}: {exc.strerror or exc}.",
                             base.CONFIGURATION_ERROR) from None
    try:
        base._run(settings, lambda runtime: run_worker_process(runtime, concurrency=concurrency))
    finally:
        metrics.process_exiting()
        shutil.rmtree(own, ignore_errors=True)


def _when(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


async def _list(runtime: Runtime, status: str | None, limit: int) -> list[dict[str, Any]]:
    async with UnitOfWork(runtime) as uow:
        if embedded(runtime):
            rows = await repository.embedded_jobs(uow.session, status=status, limit=limit)
        else:
            rows = await repository.procrastinate_jobs(uow.session, status=status, limit=limit)
        errors = await repository.last_errors(uow.session, [row.id for row in rows])
    return [{"id": row.id, "task": row.task, "status": row.status, "attempts": row.attempts,
             "lastError": errors.get(row.id), "scheduledAt": _when(row.scheduled_at), "queue": row.queue}
            for row in rows]


async def _retry(runtime: Runtime, job_id: int) -> str | None:
    """Retry a failed job now; None when done, else why not."""
    if embedded(runtime):
        async with UnitOfWork(runtime) as uow:
            job = await repository.embedded_job(uow.session, job_id)
            if job is None:
                return f"No job {job_id}."
            if job.status != "failed":
                return f"Job {job_id} is {job.status}: only a failed job is retried."
            job.status, job.scheduled_at = "todo", utcnow()
        return None
    async with UnitOfWork(runtime) as uow:
        status = await repository.procrastinate_job_exists(uow.session, job_id)
    if status is None:
        return f"No job {job_id}."
    if status != "failed":
        return f"Job {job_id} is {status}: only a failed job is retried."
    # Imported on use: the queue loads every task (and prometheus_client, see `_run_worker`).
    from ais.jobs.queue import ProcrastinateQueue

    queue = ProcrastinateQueue(runtime, pool_size=1)
    try:
        app = await queue.open()
        await app.job_manager.retry_job_by_id_async(job_id=job_id, retry_at=utcnow())
    finally:
        await queue.close()
    return None


def register(app: typer.Typer) -> None:
    jobs_app = typer.Typer(help="Inspect the job queue; retry a failed job.", invoke_without_command=True)
    app.add_typer(jobs_app, name="jobs")

    @app.command()
    def worker(metrics_port: MetricsPort = None, concurrency: Concurrency = DEFAULT_CONCURRENCY) -> None:
        """Run jobs until SIGTERM: e-mails, hold expiry, lapsed checkouts, webhook retries, refunds,
        departures, cleanup, daily reconciliation, and each periodic task on its schedule.

        On PostgreSQL any number of workers, on any number of machines, share the queue (each
        periodic task fires once per tick across all of them); run them next to `ais serve
        --no-worker`. On SIGTERM/SIGINT a worker takes no new job and finishes the running ones
        (30 s at most). A worker killed outright has its jobs retried by another one.
        """
        _run_worker(metrics_port, concurrency)

    @app.command()
    def scheduler(metrics_port: MetricsPort = None, concurrency: Concurrency = DEFAULT_CONCURRENCY) -> None:
        """The same as `ais worker` (kept for deployments that name it so)."""
        _run_worker(metrics_port, concurrency)

    @jobs_app.callback()
    def jobs(
        ctx: typer.Context,
        status: Annotated[str | None,
                          typer.Option("--status", help=f"Only jobs in this status: {', '.join(STATUSES)}.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print `{items: [...]}` as JSON on stdout.")] = False,
        limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many, newest first.")]
        = 50,
    ) -> None:
        """List jobs, newest first, each with its task, status, attempts and last error."""
        if ctx.invoked_subcommand is not None:
            return
        if status is not None and status not in STATUSES:
            raise base._fail(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.",
                             base.CONFIGURATION_ERROR)
        items = base._run(base._settings(), lambda runtime: _list(runtime, status, limit))
        if as_json:
            base.out.print(json.dumps({"items": items}), markup=False, highlight=False, soft_wrap=True)
            return
        if not items:
            base.out.print("No jobs" + (f" in status {status}." if status else "."))
            return
        table = Table("id", "task", "status", "attempts", "scheduled", "queue", "last error")
        for item in items:
            table.add_row(str(item["id"]), item["task"], item["status"], str(item["attempts"]),
                          item["scheduledAt"] or "", item["queue"], (item["lastError"] or "")[:120])
        base.out.print(table)

    @jobs_app.command("retry")
    def retry(job_id: Annotated[int, typer.Argument(metavar="ID", help="The job's id (from `ais jobs`).")]) -> None:
        """Run a failed job again now (one more attempt)."""
        problem = base._run(base._settings(), lambda runtime: _retry(runtime, job_id))
        if problem is not None:
            raise base._fail(problem)
        base.out.print(f"Job {job_id} queued again.")


__all__ = ["register"]


register(base.app)
