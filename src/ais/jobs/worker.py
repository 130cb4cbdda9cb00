"""A job worker in a process: `ais worker` (until SIGTERM), or inside `ais serve` unless
`--no-worker`. On PostgreSQL it is a procrastinate worker (any number of them, on any machine,
share the queue); on SQLite the embedded executor (one per machine, whichever process holds its
lock)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

import structlog

from ais.jobs.embedded import SHUTDOWN_GRACE_SECONDS, EmbeddedExecutor
from ais.jobs.monitoring import embedded, sample_queue_depth
from ais.jobs.procrastinate_app import run_worker
from ais.jobs.queue import ProcrastinateQueue
from ais.runtime import Runtime

_log = structlog.get_logger("ais.jobs")
DEFAULT_CONCURRENCY = 4
SAMPLE_SECONDS = 10.0


async def _sample_forever(runtime: Runtime) -> None:
    while True:
        await sample_queue_depth(runtime)
        await asyncio.sleep(SAMPLE_SECONDS)


async def _procrastinate_worker(runtime: Runtime, concurrency: int, *, signals: bool) -> None:
    # The worker's own pool: its jobs, their defers, the listener and the heartbeat.
    queue = ProcrastinateQueue(runtime, pool_size=concurrency + 3)
    previous, runtime.jobs = runtime.jobs, queue
    sampler = asyncio.create_task(_sample_forever(runtime))
    try:
        app = await queue.open()
        _log.info("worker_started", engine="procrastinate", concurrency=concurrency)
        await run_worker(app, concurrency=concurrency, install_signal_handlers=signals)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await queue.close()
        runtime.jobs = previous
        _log.info("worker_stopped")


async def run_worker_process(runtime: Runtime, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
    """`ais worker`: work until SIGTERM/SIGINT, finish the running jobs, return."""
    if not embedded(runtime):
        await _procrastinate_worker(runtime, concurrency, signals=True)
        return
    executor = EmbeddedExecutor(runtime, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, executor.stop)
    _log.info("worker_started", engine="embedded", concurrency=concurrency)
    await executor.run()
    _log.info("worker_stopped")


def start_in_process_worker(runtime: Runtime, *,
                            concurrency: int = DEFAULT_CONCURRENCY) -> Callable[[], Awaitable[None]]:
    """Run a worker as a task of this (server) process; the returned coroutine stops it gracefully."""
    if embedded(runtime):
        executor = EmbeddedExecutor(runtime, concurrency=concurrency)
        task = asyncio.create_task(executor.run(), name="embedded-executor")

        async def stop_embedded() -> None:
            executor.stop()
            await asyncio.gather(task, return_exceptions=True)

        return stop_embedded

    worker = asyncio.create_task(_procrastinate_worker(runtime, concurrency, signals=False), name="job-worker")

    async def stop() -> None:
        worker.cancel()  # procrastinate stops taking jobs and lets the running ones finish
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(worker, SHUTDOWN_GRACE_SECONDS + 5)

    return stop
