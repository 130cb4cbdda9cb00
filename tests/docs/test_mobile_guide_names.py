"""Everything docs/mobile-api.md names exists: each route path (with its method, when it gives
one), each `ais …` command with its options, each `make` target; and every error code the API
can answer is in its table, with the right HTTP status and `retryable`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
from starlette.applications import Starlette
from starlette.routing import Match
from typer.core import TyperGroup
from typer.exceptions import TyperException
from typer.main import get_command

from ais.cli import app as cli_app
from ais.errors import ALL_ERRORS
from tests.docs.guide import GUIDE

ROOT = Path(__file__).resolve().parents[2]
_FENCED = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_METHOD = r"(?:(?P<method>GET|POST|PUT|PATCH|DELETE)\s+)?"
_ROOTS = r"(?:api|payments|health|openapi\.json|docs|webhooks|_sandbox|static|metrics)"
_PATH = re.compile(_METHOD + r"(?<![\w.}])(?P<path>/" + _ROOTS + r"[^\s?#`'\"),]*)")
_PARAMETER = re.compile(r"\{\{?\w+\}?\}")


def code_spans() -> list[str]:
    """The guide's code: fenced blocks, then inline spans outside them."""
    text = GUIDE.read_text()
    blocks = _FENCED.findall(text)
    return blocks + _INLINE.findall(_FENCED.sub("", text))


def named_routes() -> set[tuple[str | None, str]]:
    found = set()
    for span in code_spans():
        span = re.sub(r"https?://[^/\s`]+", "", span)  # a full URL names its path too
        for match in _PATH.finditer(span):
            found.add((match.group("method"), match.group("path").rstrip(".")))
    return found


def _routed(app: Starlette, method: str | None, path: str) -> bool:
    """Whether the app routes `method path` (any method when None), as Starlette would match it."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method or "GET", "headers": []}
    accepted = (Match.FULL,) if method else (Match.FULL, Match.PARTIAL)
    return any(route.matches(scope)[0] in accepted for route in app.routes)


def _is_prefix(path: str, documented: list[str]) -> bool:
    """`/api/v1` or `/api/v1/auth/*`: the first segments of documented paths."""
    segments = path.removesuffix("/*").strip("/").split("/")
    return any(other.strip("/").split("/")[:len(segments)] == segments for other in documented)


async def test_the_guide_names_routes_that_exist(app, client):
    named = named_routes()
    assert ("POST", "/api/v1/bookings/{{bookingId}}/pay") in named  # the scan finds what it should
    assert (None, "/payments/success") in named
    documented = list((await client.get("/openapi.json")).json()["paths"])

    missing = []
    for method, path in sorted(named, key=str):
        concrete = _PARAMETER.sub("0b7c3f0e-4b8f-4c55-9f5e-2f1c3f6f4a10", path)
        if not _routed(app, method, concrete) and not (method is None and _is_prefix(path, documented)):
            missing.append(f"{method or ''} {path}".strip())
    assert not missing, f"docs/mobile-api.md names routes the app does not have: {missing}"


def test_the_route_check_catches_a_wrong_path_or_method(app):
    assert _routed(app, "POST", "/api/v1/bookings/x/pay")
    assert _routed(app, None, "/payments/success")
    assert not _routed(app, "GET", "/api/v1/bookings/x/pay")
    assert not _routed(app, None, "/api/v1/bookngs")
    assert not _is_prefix("/api/v1/bookngs", ["/api/v1/bookings"])


def named_commands() -> list[list[str]]:
    commands = []
    for span in code_spans():
        for line in span.splitlines():
            words = shlex.split(line.strip()) if line.strip() else []
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
                words.pop(0)
            if words[:1] in (["ais"], ["make"]):
                commands.append(words)
    return commands


def cli_problem(words: list[str]) -> str | None:
    """What `ais` would say about these arguments (None when it accepts them), without running
    anything: an unknown command or option, a missing subcommand, a bad value."""
    command = get_command(cli_app)
    context = typer.Context(command, info_name="ais")
    name = "ais"
    while isinstance(command, TyperGroup):
        if not words:
            return f"`{name}` needs a subcommand"
        name, *words = words
        found = command.get_command(context, name)
        if found is None:
            return f"no such command {name!r}"
        command = found
        context = typer.Context(command, info_name=name, parent=context)
    try:
        command.make_context(name, list(words), parent=context.parent)
    except TyperException as error:  # typer's click: its UsageError, NoSuchOption, BadParameter…
        return str(error)
    return None


def test_the_guide_names_ais_commands_and_make_targets_that_exist():
    commands = named_commands()
    assert ["ais", "serve", "--port", "9000"] in commands  # the scan finds what it should
    makefile = (ROOT / "Makefile").read_text()

    for words in commands:
        if words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), f"no `make {words[1]}` target"
        else:
            problem = cli_problem(words[1:])
            assert problem is None, f"`{' '.join(words)}` in docs/mobile-api.md: {problem}"


def test_the_command_check_catches_a_wrong_command_option_or_value():
    assert cli_problem(["db", "upgrade"]) is None
    for wrong in (["serve", "--prot", "9000"], ["serve", "--port", "http"], ["sreve"], ["db", "upgrad"], ["db"]):
        assert cli_problem(wrong), f"ais {' '.join(wrong)} was accepted"


def error_table() -> dict[str, tuple[int, bool]]:
    """`code | HTTP | retryable | …` rows of the guide's error table."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \| (yes|no) \|", GUIDE.read_text(), re.M)
    return {code: (int(status), retryable == "yes") for code, status, retryable in rows}


async def test_every_error_code_the_api_answers_is_in_the_guides_table(client):
    known = {error.code: (error.status_code, error.retryable) for error in ALL_ERRORS}
    # Codes the framework's own errors map to, as the OpenAPI document lists them.
    document = (await client.get("/openapi.json")).json()
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                for example in response.get("content", {}).get("application/json", {}).get("examples", {}).values():
                    value = example["value"]
                    known.setdefault(value["code"], (int(status), value["retryable"]))
    # The framework's answer to a method a path does not have.
    wrong_method = await client.delete("/api/v1/airports")
    known.setdefault(wrong_method.json()["code"], (wrong_method.status_code, wrong_method.json()["retryable"]))

    table = error_table()
    missing = sorted(set(known) - set(table))
    assert not missing, f"codes the API answers that docs/mobile-api.md does not explain: {missing}"
    wrong = {code: (table[code], expected) for code, expected in known.items() if table[code] != expected}
    assert not wrong, f"(HTTP status, retryable) in the guide vs the API: {wrong}"
