"""Figures of the code's skeleton, for a before/after comparison of a refactor.

    .venv/bin/python scripts/architecture_figures.py [SRC_DIR]   (default: src)

Prints, as Markdown: `.commit()` / `.rollback()` calls per module, the cross-domain import pairs
(importing module's domain → imported module's domain, counting file pairs), the function-level
`from ais…` / `import ais…` statements, and the ten largest modules by line count.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

EDGE_FILES = {"routes", "admin_routes", "pages", "dependencies", "cli"}  # the HTTP edge and commands, above domains
DOMAINS = ("flights", "bookings", "payments", "reconciliation", "identity", "ledger", "audit",
           "notifications", "idempotency", "maintenance", "cache")


def _modules(src: Path) -> list[tuple[str, Path]]:
    found = []
    for path in sorted((src / "ais").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(imported module, line, function-level) of every `ais` import."""
    found: list[tuple[str, int, bool]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0 \
                    and child.module.split(".")[0] == "ais":
                found.append((child.module, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names
                             if a.name.split(".")[0] == "ais")
            walk(child, nested)

    walk(tree, False)
    return found


def main(src: Path) -> None:
    commits: Counter[str] = Counter()
    pairs: set[tuple[str, str]] = set()
    function_level: list[str] = []
    sizes: list[tuple[int, str]] = []
    for module, path in _modules(src):
        text = path.read_text()
        tree = ast.parse(text)
        sizes.append((len(text.splitlines()), str(path.relative_to(src))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("commit", "rollback") and not node.args:
                commits[module] += 1
        for target, line, in_function in _imports(tree):
            source_domain, target_domain = _domain(module), _domain(target)
            if source_domain and target_domain and source_domain != target_domain:
                pairs.add((module, target))
            if in_function:
                function_level.append(f"{module}:{line} {target}")

    print(f"## commit()/rollback() calls: {sum(commits.values())} in {len(commits)} modules\n")
    for module, count in sorted(commits.items()):
        print(f"- {module}: {count}")
    inner = {(a, b) for a, b in pairs if a.rsplit(".", 1)[-1] not in EDGE_FILES}
    by_domains = Counter((_domain(a), _domain(b)) for a, b in inner)
    print(f"\n## cross-domain imports: {len(pairs)} module pairs; {len(inner)} outside the edge files "
          f"({', '.join(sorted(EDGE_FILES))}), {len(by_domains)} domain pairs\n")
    for (a, b), count in sorted(by_domains.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        print(f"- {a} → {b}: {count}")
    mutual = sorted({tuple(sorted((str(a), str(b)))) for a, b in by_domains if (b, a) in by_domains})
    shown = ", ".join(" ↔ ".join(p) for p in mutual) or "none"
    print(f"\nDomains importing each other (outside the edge files): {shown}")
    print(f"\n## function-level `ais` imports: {len(function_level)}\n")
    for entry in function_level:
        print(f"- {entry}")
    print("\n## ten largest modules (lines)\n")
    for lines, path in sorted(sizes, reverse=True)[:10]:
        print(f"- {path}: {lines}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("src"))
