"""The layer rule and the transaction rule, checked over the source (docs/CONVENTIONS.md).

Layers, top to bottom: a module may import its own layer and the layers below it, never a
higher one (module-level and function-level imports alike, `if TYPE_CHECKING:` ones included).
Within the layer of the services shared by the domains, packages are independent of each other.

- edge: `ais.app`, `ais.wiring`, `ais.models`, `ais.cli`, `ais.jobs`, `ais.http` (but
  `api_model`), and in every package `routes.py`, `admin_routes.py`, `pages.py`,
  `dependencies.py`, `cli.py`; the payment sandbox (a separate app the edge mounts)
- reconciliation ← payments ← bookings ← flights (each above the next)
- identity, ledger, notifications, idempotency, maintenance (independent of each other)
- audit, cache
- platform: `ais`, `ais.config`, `ais.errors`, `ais.money`, `ais.ops`, `ais.db`, `ais.runtime`,
  `ais.cache.store` (the Redis or in-memory store the runtime holds), `ais.http.api_model` (the
  wire base classes every schemas.py derives from; pydantic only)

Only the unit of work calls `.commit()` / `.rollback()`, and the few flows that need two
transactions, each one function whose docstring says why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

EDGE_FILES = {"routes", "admin_routes", "pages", "dependencies", "cli"}
EDGE_MODULES = ("ais.app", "ais.wiring", "ais.models", "ais.cli", "ais.jobs", "ais.http", "ais.payments.sandbox")
LAYERS: list[tuple[str, tuple[str, ...]]] = [  # top to bottom
    ("edge", ()),
    ("reconciliation", ("ais.reconciliation",)),
    ("payments", ("ais.payments",)),
    ("bookings", ("ais.bookings",)),
    ("flights", ("ais.flights",)),
    ("shared services", ("ais.identity", "ais.ledger", "ais.notifications", "ais.idempotency", "ais.maintenance")),
    ("audit and cache", ("ais.audit", "ais.cache")),
    ("platform", ("ais.config", "ais.errors", "ais.money", "ais.ops", "ais.db", "ais.runtime", "ais.cache.store",
                  "ais.http.api_model", "ais")),
]
INDEPENDENT = {"shared services", "audit and cache"}  # packages of these layers do not import each other

# Imports that point upwards on purpose, each with its reason.
ALLOWED_UPWARD = {
    ("ais.runtime", "ais.payments.gateway"):
        "annotation only (TYPE_CHECKING): the runtime hands out the gateway the composition root made",
}

# `.commit()` / `.rollback()`: the unit of work, and the multi-transaction flows (module, function).
TRANSACTION_OWNERS = {
    ("ais.db.unit_of_work", None),
    ("ais.idempotency.service", "claim"),  # the key is claimed and committed before the work runs
    ("ais.payments.checkout_flow", "start_checkout"),  # record the attempt; Stripe with no transaction open
    ("ais.payments.refund_flow", "refund_by_staff"),  # record the refund, then submit it
    ("ais.payments.webhooks", "receive"),  # store the event, then process it
}
# The job, task and command modules whose transactions the parallel job work (issue 8, brief 8B)
# moves onto the unit of work; an entry that no longer commits fails below, so the list only shrinks.
NOT_YET_ON_THE_UNIT_OF_WORK = {
    "ais.cli", "ais.jobs.cleanup", "ais.notifications.sender", "ais.payments.tasks", "ais.reconciliation.service",
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[-1] in EDGE_FILES or (module.startswith(EDGE_MODULES) and module != "ais.http.api_model"):
        return "edge"
    best, best_length = "platform", 0
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = name, len(prefix)
    return best


def _rank(layer: str) -> int:
    return [name for name, _ in LAYERS].index(layer)


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or package)
    line: int
    function_level: bool


def imports_of(module: str, source: str) -> Iterator[Import]:
    tree = ast.parse(source)

    def walk(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                if child.module.startswith("ais"):
                    for alias in child.names:  # `from ais.x import y` may import the module ais.x.y
                        yield Import(module, f"{child.module}.{alias.name}", child.lineno, in_function)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("ais"):
                        yield Import(module, alias.name, child.lineno, in_function)
            yield from walk(child, nested)

    yield from walk(tree, False)


def violation(found: Import) -> str | None:
    """Why `found` breaks the layer rule, or None."""
    source, target = layer_of(found.module), layer_of(found.target)
    if (found.module, _trim(found.target)) in ALLOWED_UPWARD:
        return None
    if _rank(target) < _rank(source):
        return f"{found.module}:{found.line} ({source}) imports {found.target} ({target}), a higher layer"
    if source == target and source in INDEPENDENT and _package(found.module) != _package(found.target):
        return f"{found.module}:{found.line} imports {found.target}: packages of the {source} layer are independent"
    return None


def _trim(target: str) -> str:
    """`ais.payments.gateway.PaymentGateway` → the module `ais.payments.gateway`."""
    while target and not _exists(target):
        target = target.rsplit(".", 1)[0] if "." in target else ""
    return target


def _exists(module: str) -> bool:
    path = SRC.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def source_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((SRC / "ais").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def all_violations() -> list[str]:
    found = []
    for module, path in source_modules():
        for imported in imports_of(module, path.read_text()):
            problem = violation(Import(imported.module, _trim(imported.target), imported.line,
                                       imported.function_level))
            if problem and problem not in found:  # `from x import a, b` is one import
                found.append(problem)
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert all_violations() == []


@pytest.mark.parametrize(("module", "source"), [
    ("ais.flights.service", "from ais.bookings.service import transition\n"),
    ("ais.bookings.service", "def f():\n    from ais.payments.refund_flow import record_refund\n"),
    ("ais.notifications.service", "import ais.bookings.models\n"),
    ("ais.db.base", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ais.identity.models import User\n"),
    ("ais.identity.service", "from ais.ledger import service\n"),  # same layer, other package
    ("ais.payments.settlement", "from ais.http.errors import responses\n"),  # a service reaching the edge
])
def test_the_rule_catches_an_upward_import(module: str, source: str) -> None:
    found = [violation(Import(i.module, _trim(i.target), i.line, i.function_level)) for i in imports_of(module, source)]
    assert any(found), f"{source!r} in {module} was not caught"


def test_the_rule_lets_a_route_use_several_domains() -> None:
    source = ("from ais.payments import cancellation\nfrom ais.bookings import service\n"
              "from ais.http.errors import responses\n")
    assert not [i for i in imports_of("ais.bookings.routes", source)
                if violation(Import(i.module, _trim(i.target), i.line, i.function_level))]


def test_every_function_level_import_says_why() -> None:
    """A function-level import hides a dependency: only for an optional part or a cycle the
    framework forces, with a comment on the line above saying which."""
    silent = []
    for module, path in source_modules():
        if module in NOT_YET_ON_THE_UNIT_OF_WORK or module in {"ais.jobs.runner", "ais.reconciliation.cli"}:
            continue
        lines = path.read_text().splitlines()
        for imported in imports_of(module, path.read_text()):
            if imported.function_level and not _explained(lines, imported.line):
                silent.append(f"{module}:{imported.line}")
    assert sorted(set(silent)) == []


def _explained(lines: list[str], line: int) -> bool:
    above = lines[line - 2].strip() if line >= 2 else ""
    return "#" in lines[line - 1] or above.startswith("#")


def _transaction_calls(source: str) -> Iterator[tuple[str | None, int]]:
    """(enclosing top-level function or None, line) of every `.commit()` / `.rollback()` call."""
    tree = ast.parse(source)
    for top in tree.body:
        name = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        for node in ast.walk(top):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("commit", "rollback") and not node.args:
                yield name, node.lineno


def test_only_the_unit_of_work_and_the_named_flows_commit() -> None:
    owners = []
    for module, path in source_modules():
        for function, line in _transaction_calls(path.read_text()):
            if (module, None) in TRANSACTION_OWNERS or (module, function) in TRANSACTION_OWNERS:
                continue
            if module in NOT_YET_ON_THE_UNIT_OF_WORK:
                continue
            owners.append(f"{module}:{line} ({function})")
    assert owners == []


def test_the_pending_list_only_names_modules_that_still_commit() -> None:
    sources = dict(source_modules())
    stale = [module for module in NOT_YET_ON_THE_UNIT_OF_WORK
             if not any(True for _ in _transaction_calls(sources[module].read_text()))]
    assert stale == []


def test_the_named_flows_say_why_they_need_two_transactions() -> None:
    sources = dict(source_modules())
    for module, function in TRANSACTION_OWNERS:
        if function is None:
            continue
        tree = ast.parse(sources[module].read_text())
        [node] = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function]
        doc = ast.get_docstring(node) or ""
        assert "transaction" in doc, f"{module}.{function} does not say why it commits"


def test_a_commit_in_a_service_is_caught() -> None:
    source = "async def cancel(session):\n    await session.commit()\n"
    assert list(_transaction_calls(source)) == [("cancel", 2)]


# --- all SQL in repositories -------------------------------------------------------------------

SQL_BUILDERS = {"select", "update", "insert", "delete", "text"}
# Where SQL may be built besides `repository.py`: the database layer itself (engine, migrations,
# keyset pages, upserts, backups) and the payment sandbox (a separate app with its own store).
SQL_PLACES = ("ais.db.", "ais.payments.sandbox.")
SQL_FILES = {"repository", "models"}  # models: server defaults such as text("0")
# The job and command modules still building their own SQL until the parallel job work (brief 8B)
# moves it into repositories; stale entries fail below.
SQL_NOT_YET_IN_REPOSITORIES = {"ais.cli", "ais.jobs.cleanup", "ais.notifications.sender"}


def _sql_builders(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
            found += [alias.name for alias in node.names if alias.name in SQL_BUILDERS]
    return found


def test_sql_is_built_only_in_repositories() -> None:
    outside = []
    for module, path in source_modules():
        if module.rsplit(".", 1)[-1] in SQL_FILES or module.startswith(SQL_PLACES) \
                or module in SQL_NOT_YET_IN_REPOSITORIES:
            continue
        builders = _sql_builders(path.read_text())
        if builders:
            outside.append(f"{module}: {', '.join(builders)}")
    assert outside == []


def test_the_sql_pending_list_only_names_modules_that_still_build_sql() -> None:
    sources = dict(source_modules())
    assert [module for module in SQL_NOT_YET_IN_REPOSITORIES if not _sql_builders(sources[module].read_text())] == []


# --- booking status sets live in bookings/rules.py -----------------------------------------------

def _status_sets(source: str) -> list[int]:
    """Lines of set literals of two or more booking statuses (`S.PAID`, `BookingStatus.PAID`), and
    of tuples of them tested with `in` (a `(source, target)` pair is not a set)."""
    lines = []
    tree = ast.parse(source)
    tested = {id(comparator) for node in ast.walk(tree) if isinstance(node, ast.Compare)
              for op, comparator in zip(node.ops, node.comparators, strict=True) if isinstance(op, (ast.In, ast.NotIn))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Set) or (isinstance(node, ast.Tuple) and id(node) in tested):
            statuses = [e for e in node.elts if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name)
                        and e.value.id in ("S", "BookingStatus")]
            if len(statuses) >= 2:
                lines.append(node.lineno)
    return lines


def test_booking_status_sets_live_in_the_rules() -> None:
    """A copy of a status set drifts from the state machine: name it in `ais.bookings.rules`."""
    copies = [f"{module}:{line}" for module, path in source_modules()
              if module not in ("ais.bookings.rules", "ais.reconciliation.repository")
              for line in _status_sets(path.read_text())]
    assert copies == []


def test_a_status_set_outside_the_rules_is_caught() -> None:
    assert _status_sets("_PAID = frozenset({S.PAID, S.CONFIRMED})\n") == [1]
    assert _status_sets("if status in (S.RESERVED, S.PAYMENT_FAILED):\n    pass\n") == [1]
    assert _status_sets("plan = [(S.CONFIRMED, S.NO_SHOW)]\n") == []
