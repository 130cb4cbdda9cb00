"""`ais seed --demo` and `ais create-admin`: data an operator puts into the database. The flights
domain seeds (`ais.flights.seed`), the identity domain makes admins (`ais.identity.admins`), each
in one unit of work."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from ais.cli.command import CONFIGURATION_ERROR, _fail, _run, _settings, app, err, out
from ais.db.unit_of_work import UnitOfWork
from ais.flights.seed import seed_demo
from ais.runtime import Runtime

PASSWORD_ATTEMPTS = 3


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo airports and flights.")] = False,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of flights, from today.")] = 30,
) -> None:
    """Seed the demo airports and DAYS days of flights from today.

    Flights are only added to a database that has none; airports are added when missing.
    """
    if not demo:
        raise _fail("Nothing to seed: pass --demo.", CONFIGURATION_ERROR)
    settings = _settings()

    async def work(runtime: Runtime) -> int:
        async with UnitOfWork(runtime) as uow:
            return await seed_demo(uow.session, days=days)

    with err.status(f"Seeding {days} days of demo flights …"):
        created = _run(settings, work)
    if created:
        out.print(f"Created [bold]{created}[/] flights.")
    else:
        out.print("Created 0 flights: the database already has flights (demo flights only go into an empty one).")


def _password_problem(email: str, full_name: str, password: str) -> str | None:
    """The rules of POST /api/v1/auth/register, so an admin password is never weaker than a passenger's."""
    # Identity is imported by the commands that use it: its password checks (argon2, the list of
    # common passwords) would slow every other `ais` command's start-up.
    from ais.identity.schemas import RegisterRequest

    try:
        RegisterRequest.model_validate({"email": email, "password": password, "fullName": full_name})
    except ValidationError as exc:
        return "; ".join(f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors())
    return None


def _ask_password(email: str, full_name: str) -> str:
    """Prompt (hidden) until a password passes the rules and is typed twice alike; each entry is
    checked as soon as it is typed, not after the confirmation."""
    for _ in range(PASSWORD_ATTEMPTS):
        password = typer.prompt("Password", hide_input=True)
        problem = _password_problem(email, full_name, password)
        if problem:
            err.print(f"{problem}. Try again.", style="yellow", markup=False, highlight=False)
            continue
        if typer.prompt("Repeat the password", hide_input=True) == password:
            return password
        err.print("The two entries differ. Try again.", style="yellow")
    raise _fail(f"No acceptable password after {PASSWORD_ATTEMPTS} attempts.", CONFIGURATION_ERROR)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="E-mail of the admin account.")],
    password: Annotated[
        str | None,
        typer.Option(help="New password. Asked for (hidden) when a new account is created without it."),
    ] = None,
    full_name: Annotated[str, typer.Option(help="Name for a new account.")] = "Administrator",
) -> None:
    """Create an admin account, or promote an existing user to admin.

    Promoting keeps the user's password and sessions, unless --password is given: then the
    password is replaced and every refresh token of the user is revoked.
    """
    # Imported here for start-up time (see `_password_problem`).
    from ais.identity import admins
    from ais.identity.service import normalize_email  # start-up time, as above

    settings = _settings()
    email = normalize_email(email)
    # The e-mail and name first (with a stand-in password): a bad one fails before any prompt.
    problem = _password_problem(email, full_name, password or "Placeholder-Pass-2026")
    if problem:
        raise _fail(problem, CONFIGURATION_ERROR)
    if password is None and not _run(settings, lambda runtime: admins.exists(runtime, email)):
        password = _ask_password(email, full_name)
    outcome = _run(settings, lambda runtime: admins.create_or_promote(runtime, email, password, full_name))
    out.print(outcome, soft_wrap=True)

