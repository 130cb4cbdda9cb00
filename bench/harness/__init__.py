"""The benchmark harness, one module per concern (the scripts in bench/ compose them):

* `locations`  where things are: this checkout, the bench directory, the host under test
* `options`    the command-line options every benchmark shares
* `codebase`   a code tree with its own venv (this checkout, or a baseline commit built in a cache)
* `database`   scratch PostgreSQL databases, migrated by the code under test
* `seeding`    flights, users and pending payments put into a scratch database
* `checks`     invariants checked in the database after a run (seats, ledger)
* `servers`    the server processes under test (start, readiness, stop)
* `sampling`   /proc sampling: RSS of the server workers, CPU by component, PostgreSQL sessions
* `load`       what a phase asks for (LoadSpec) and what it measured (LoadResult)
* `clients`    the in-Python load generators (httpx, a raw HTTP/1.1 client, raw SQL)
* `wrk`        wrk as the load generator (bench/wrk/load.lua)
* `pgbench`    pgbench as the raw PostgreSQL ceiling
* `phases`     running phases in interleaved rounds with a CPU breakdown of each window
* `profiling`  py-spy on the server workers, and its summary
* `webhooks`   signed Stripe events for the webhook storm
* `report`     the tables the benchmarks print

Everything targets 127.0.0.1 only. The machine is small (2 cores) and the server, PostgreSQL,
Redis and the load generator all share it, so the benchmarks report RATIOS measured in the
same run, plus a CPU breakdown per phase that shows who used the cores.
"""
