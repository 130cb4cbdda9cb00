"""The error contract has one source: each code and each error class is defined once, in
`ais.errors` (what services raise) or in the edge (`ais.http.errors`, what only the framework
answers), and the OpenAPI declarations and the handlers read the same definitions."""

from __future__ import annotations

import ast
from pathlib import Path

from ais.errors import InvalidSignature
from ais.http.errors import responses

SRC = Path(__file__).resolve().parents[2] / "src" / "ais"


def _sources() -> dict[str, str]:
    return {str(path.relative_to(SRC)): path.read_text() for path in SRC.rglob("*.py") if "sandbox" not in path.parts}


def test_each_error_class_is_defined_once() -> None:
    defined: dict[str, list[str]] = {}
    for name, source in _sources().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.name in ("InvalidSignature", "MethodNotAllowed"):
                defined.setdefault(node.name, []).append(name)
    assert defined == {"InvalidSignature": ["errors.py"]}


def test_each_code_is_spelled_once_in_the_source() -> None:
    """A code written in two places drifts: METHOD_NOT_ALLOWED once (the framework's table),
    INVALID_SIGNATURE once (its AISError), whatever `responses(...)` declarations name them."""
    for code in ("METHOD_NOT_ALLOWED", "INVALID_SIGNATURE"):
        places = [f"{name}:{number}" for name, source in _sources().items()
                  for number, line in enumerate(source.splitlines(), 1)
                  if f'"{code}"' in line and "responses(" not in line]
        assert len(places) == 1, (code, places)


def test_the_documented_answers_come_from_those_definitions() -> None:
    assert responses("METHOD_NOT_ALLOWED")[405]["description"] == "METHOD_NOT_ALLOWED"
    example = responses("INVALID_SIGNATURE")[400]["content"]["application/json"]["examples"]["INVALID_SIGNATURE"]
    assert example["value"]["message"] == InvalidSignature.default_message


async def test_an_unknown_method_answers_the_contract_body(client) -> None:
    response = await client.delete("/api/v1/airports")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
