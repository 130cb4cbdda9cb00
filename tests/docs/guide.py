"""docs/mobile-api.md as the tests read it: its request examples, sent to the real API, and the
answers it shows, compared with the real ones.

In the guide, a request example is an ```http block right after `<!-- example: NAME -->`; the
```http block that follows it (starting `HTTP/1.1`) is the answer it shows. `{{name}}` in a
request is a value from an earlier answer (a token, an id). A shown answer may leave fields
out but never invents one: every field shown must be in the real answer, with the same kind of
value (an amount stays a decimal string, a flight time keeps its airport's offset, a null stays
null), and the contract's own values (codes, statuses, enums) must be equal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "mobile-api.md"

_BLOCK = re.compile(r"(?:<!-- example: (?P<name>[a-z0-9-]+) -->\s*)?```http\n(?P<text>.*?)```", re.S)
_VARIABLE = re.compile(r"\{\{(\w+)\}\}")
# Fields whose values are the contract's vocabulary: shown values must be the real ones.
EXACT_FIELDS = frozenset({"code", "retryable", "status", "tokenType", "expiresIn", "cabin", "currency", "type",
                          "role", "from", "to", "field", "timeZone"})
# Headers whose shown value is only an illustration (it differs on every request).
ILLUSTRATIVE_HEADERS = frozenset({"x-correlation-id", "location", "retry-after"})
_KINDS = (
    ("datetime", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?P<zone>Z|[+-]\d{2}:\d{2})$")),
    ("date", re.compile(r"^\d{4}-\d{2}-\d{2}$")),
    ("amount", re.compile(r"^\d+\.\d{2}$")),
    ("uuid", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
)


@dataclass(frozen=True)
class ShownAnswer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Example:
    name: str
    request: str
    answer: ShownAnswer | None


def examples(text: str | None = None) -> dict[str, Example]:
    """Every request example of the guide, by name, in order. Raises when an ```http request
    block has no name, a name is used twice, or an answer block follows no request."""
    text = GUIDE.read_text() if text is None else text
    found: dict[str, Example] = {}
    last: Example | None = None
    for match in _BLOCK.finditer(text):
        block = match.group("text")
        if block.startswith("HTTP/"):
            if match.group("name") is None and last is not None and last.answer is None:
                last = found[last.name] = Example(last.name, last.request, _parse_answer(block))
                continue
            # A lone answer (maintenance mode's 503) is an illustration of a state the tests do
            # not put the server in; it must not look like a runnable example.
            assert match.group("name") is None, f"example {match.group('name')} is an answer, not a request"
            last = None
            continue
        name = match.group("name")
        assert name, f"an ```http request without <!-- example: name -->: {block.splitlines()[0]}"
        assert name not in found, f"example {name} appears twice"
        last = found[name] = Example(name, block, None)
    return found


def _parse_answer(block: str) -> ShownAnswer:
    head, _, body = block.partition("\n\n")
    status_line, *header_lines = head.splitlines()
    headers = dict(_header(line) for line in header_lines)
    return ShownAnswer(status=int(status_line.split()[1]), headers=headers,
                       body=json.loads(body) if body.strip() else None)


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


@dataclass
class Walk:
    """Sends the guide's examples in the order a test names them, with the variables the
    earlier answers gave, and checks each answer against the one the guide shows."""

    client: httpx.AsyncClient
    variables: dict[str, str] = field(default_factory=dict)
    # Literal text of the guide's requests replaced for this run (its e-mail address, its date).
    replacements: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    guide: dict[str, Example] = field(default_factory=examples)

    async def send(self, name: str) -> httpx.Response:
        example = self.guide[name]
        text = example.request
        for literal, value in self.replacements.items():
            text = text.replace(literal, value)
        text = _VARIABLE.sub(lambda match: self.variables[match.group(1)], text)
        head, _, body = text.partition("\n\n")
        request_line, *header_lines = head.splitlines()
        method, target = request_line.split()
        headers = dict(_header(line) for line in header_lines)
        response = await self.client.request(method, target, headers=headers,
                                             content=body.strip().encode() if body.strip() else None)
        self.ran.append(name)
        if example.answer is not None:
            problems = differences(example.answer, response)
            assert not problems, f"example {name}: the guide shows an answer the API does not give:\n" + \
                "\n".join(problems) + f"\n\nthe API answered {response.status_code}: {response.text[:2000]}"
        return response


def differences(shown: ShownAnswer, response: httpx.Response) -> list[str]:
    problems = []
    if response.status_code != shown.status:
        problems.append(f"status {response.status_code}, the guide shows {shown.status}")
    for name, value in shown.headers.items():
        if name not in response.headers:
            problems.append(f"header {name} missing")
        elif name not in ILLUSTRATIVE_HEADERS and response.headers[name] != value:
            problems.append(f"header {name}: {response.headers[name]!r}, the guide shows {value!r}")
    if shown.body is not None:
        problems += body_differences(shown.body, response.json(), "body")
    elif response.content:
        problems.append("the API answers with a body, the guide shows none")
    return problems


def body_differences(shown: Any, actual: Any, where: str) -> list[str]:
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: an object in the guide, {type(actual).__name__} in the answer"]
        problems = []
        for key, value in shown.items():
            if key not in actual:
                problems.append(f"{where}.{key}: not in the answer")
                continue
            if key in EXACT_FIELDS and not isinstance(value, (dict, list)) and value != actual[key]:
                problems.append(f"{where}.{key}: {actual[key]!r} in the answer, the guide shows {value!r}")
            problems += body_differences(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{where}: a list in the guide, {type(actual).__name__} in the answer"]
        if not shown or not actual:
            same = bool(shown) == bool(actual)
            return [] if same else [f"{where}: {len(actual)} items, the guide shows {len(shown)}"]
        # Each item shown must be like one of the answer's items (the guide may show fewer).
        problems = []
        for index, item in enumerate(shown):
            if all(body_differences(item, candidate, where) for candidate in actual):
                closest = min((body_differences(item, candidate, f"{where}[{index}]") for candidate in actual), key=len)
                problems += closest
        return problems
    if shown is None or actual is None:
        both = shown is None and actual is None
        return [] if both else [f"{where}: {actual!r} in the answer, the guide shows {shown!r}"]
    if type(shown) is not type(actual):
        return [f"{where}: {type(actual).__name__} in the answer, the guide shows {type(shown).__name__}"]
    if isinstance(shown, str) and _kind(shown) != _kind(actual):
        return [f"{where}: {actual!r} in the answer is not like {shown!r} in the guide"]
    return []


def _kind(value: str) -> tuple[str, str] | None:
    for kind, pattern in _KINDS:
        match = pattern.match(value)
        if match:
            return kind, match.groupdict().get("zone") or ""
    return None
