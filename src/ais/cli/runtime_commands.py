"""`ais serve`: the API under uvicorn, a long-running process that SIGTERM stops gracefully.
The job worker (`ais worker`) and the queue commands are in `job_commands.py`."""

from __future__ import annotations

import errno
import os
import signal
from typing import Annotated

import typer

from ais.cli.command import (
    CONFIGURATION_ERROR,
    _fail,
    _migrate,
    _run,
    _settings,
    _shown_url,
    app,
    err,
    out,
)
from ais.config import get_settings
from ais.db.unit_of_work import UnitOfWork
from ais.flights.seed import seed_demo_if_empty
from ais.ops import metrics_dir, running_server
from ais.ops.listener import bind_listener
from ais.ops.logging import configure_logging
from ais.runtime import Runtime

UVICORN_STARTUP_FAILURE = 3  # the exit status `uvicorn.run` gives when the app did not start


class _Stopped(Exception):
    """SIGTERM arrived: stop gracefully, clean up, exit 0."""


def _check_port(host: str, port: int) -> None:
    """Fail in one line when the address cannot be listened on, before anything is printed or migrated."""
    # One socket, without SO_REUSEPORT: it cannot share the port with any listener, a server of
    # several workers included.
    try:
        bind_listener(host, port, workers=1).close()
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
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
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
        # uvicorn kills a worker that does not answer its supervisor's ping within this time (5 s
        # by default): on a saturated host a worker still starting or busy would be killed and
        # respawned in a loop, dropping its requests. A truly hung worker is still replaced.
        timeout_worker_healthcheck=30,
        # X-Forwarded-For is trusted only from FORWARDED_ALLOW_IPS, which the app applies itself
        # (uvicorn's default would trust loopback); no `server: uvicorn` banner.
        proxy_headers=False,
        server_header=False,
    )
    if workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise SystemExit(UVICORN_STARTUP_FAILURE)
        return
    # Several workers: uvicorn's supervisor, given a listener that each worker opens for itself, so
    # that connections are spread over the workers (`ais.ops.listener` says why).
    listener = bind_listener(host, port, workers=workers)
    try:
        Multiprocess(config, sockets=[listener]).run()
    finally:
        listener.close()


async def _seed_if_empty(runtime: Runtime) -> int | None:
    async with UnitOfWork(runtime) as uow:
        return await seed_demo_if_empty(uow.session)
