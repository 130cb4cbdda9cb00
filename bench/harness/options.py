"""Command-line options that the benchmarks share."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.phases import RunOptions
from harness.servers import ServerSettings


def common_arguments(parser: argparse.ArgumentParser, *, clients: int | None = 16, duration: float = 10.0,
                     workers: int = 1, loadgen: str = "httpx") -> None:
    """The options every benchmark shares; `clients=None` for a benchmark that sets its own."""
    if clients is not None:
        parser.add_argument("--clients", type=int, default=clients,
                            help=f"concurrent virtual clients (default {clients})")
    parser.add_argument("--duration", type=float, default=duration,
                        help=f"measured seconds per phase (default {duration:g})")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds before each round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="split each phase into this many rounds, run interleaved with the other phases "
                             "(default 2), so that noise from other processes hits every phase alike")
    parser.add_argument("--workers", type=int, default=workers, help=f"server worker processes (default {workers})")
    parser.add_argument("--server", choices=("ais", "uvicorn", "granian"), default="ais",
                        help="ais = `ais serve` (uvicorn, uvloop, httptools; falls back to uvicorn if the CLI "
                             "is missing), uvicorn = the uvicorn CLI with the same loop/parser, granian = granian "
                             "ASGI (must be pip-installed in the venv)")
    parser.add_argument("--loadgen", choices=("wrk", "raw", "httpx"), default=loadgen,
                        help="load generator: wrk (C, needs the `wrk` program), raw (a minimal Python HTTP/1.1 "
                             f"client) or httpx (default {loadgen})")
    parser.add_argument("--loadgen-procs", type=int, default=1,
                        help="processes of the Python load generators (0 = inside the bench process; default 1)")
    parser.add_argument("--pool-size", type=int, default=None, help="DB_POOL_SIZE of the server (default: the "
                        "product's)")
    parser.add_argument("--max-overflow", type=int, default=None,
                        help="DB_MAX_OVERFLOW of the server (default: the product's)")
    parser.add_argument("--log-level", default=None,
                        help="LOG_LEVEL of the server (default: the product's, which logs every request)")
    parser.add_argument("--redis-db", type=int, default=14,
                        help="Redis database index for the server's cache and limits (-1 = no Redis: in-process "
                             "memory store; default 14)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server (repeatable)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch database")
    parser.add_argument("--quiet-wait", type=float, default=20.0,
                        help="seconds the run may spend, in total, waiting before a phase until unrelated "
                             "processes (other test runs) use < 0.3 cores (default 20)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy record the server workers during the HTTP phases; raw stacks go to DIR and "
                             "a summary is printed (py-spy must be installed in the venv)")
    parser.add_argument("--profile-native", action="store_true",
                        help="with --profile: include native frames (C extensions, libc, the GC); py-spy then "
                             "pauses the process for each sample, which distorts lock-bound phases (bookings) badly")
    parser.add_argument("--verbose", "-v", action="store_true", help="print progress")


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(procs=args.loadgen_procs, rounds=args.rounds, quiet_budget=[args.quiet_wait],
                      profile_dir=args.profile, profile_native=args.profile_native)


def server_settings(args: argparse.Namespace) -> ServerSettings:
    extra = {}
    for item in args.server_env:
        name, _, value = item.partition("=")
        extra[name] = value
    return ServerSettings(redis_db=args.redis_db, pool_size=args.pool_size, max_overflow=args.max_overflow,
                          log_level=args.log_level, extra=extra)
