"""`ais reconcile` (our payments compared with the provider's; `ais.reconciliation.cli` prints it)
and `ais sandbox` (the Stripe-compatible payment sandbox as its own server)."""

from __future__ import annotations

from typing import Annotated

import typer

from ais.cli.command import _fail, _run, _settings_reaching_the_server, app, err, out


@app.command()
def reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be fixed; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Compare pending and recent payments with the payment provider; apply what missed webhooks left out.

    Without --dry-run it fixes what it can (as the webhook would have) and writes an audit entry.
    Mismatches it cannot fix are reported. Exit code 0 when no payment failed, 1 otherwise.
    """
    # Imported by the command that needs it (as below): reconciliation loads the payment flows,
    # which every other `ais` command would pay for at start-up.
    from ais.reconciliation.cli import reconcile_command

    settings = _settings_reaching_the_server()
    code = reconcile_command(settings, dry_run=dry_run, as_json=as_json, run=_run, out=out, err=err)
    raise typer.Exit(code)


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
    # Imported by the command that needs it: the sandbox's own app would slow every other `ais`
    # command's start-up.
    from ais.payments.sandbox.server import SandboxCommandError, run_sandbox_server

    try:
        run_sandbox_server(host=host, port=port, workers=workers,
                           announce=lambda line: out.print(line, markup=False))
    except SandboxCommandError as exc:
        raise _fail(str(exc), exc.exit_code) from None
