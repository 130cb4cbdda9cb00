"""Build the Postman collection (format v2.1) of the AIS API from its OpenAPI document.

    .venv/bin/python scripts/postman_collection.py > docs/postman/ais.postman_collection.json
    .venv/bin/python scripts/postman_collection.py --output docs/postman/ais.postman_collection.json
    .venv/bin/python scripts/postman_collection.py --check docs/postman/ais.postman_collection.json

By default the document comes from the app itself, built in memory with throwaway settings (no
database, Redis or server is touched); `--openapi` reads it from a file or from a running
server's `/openapi.json` instead. `--check` exits 1 when the file differs from what the document
gives today (the test suite runs the same comparison).

The collection has one folder per OpenAPI tag and one request per operation, named by the
operation's summary. Requests use `{{baseUrl}}`, bearer auth from `{{accessToken}}` where the
operation is secured, a fresh `Idempotency-Key` (`{{$guid}}`) where the server requires one, and
bodies from the schemas' examples. Login and refresh store the token pair they receive; search,
booking and pay store the ids the next requests need.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_OUTPUT = Path("docs/postman/ais.postman_collection.json")
IDEMPOTENCY_HEADER = "Idempotency-Key"
JsonObject = dict[str, Any]

# Collection variables: where to send requests and who is signed in. Login fills the tokens.
VARIABLES: dict[str, str] = {
    "baseUrl": DEFAULT_BASE_URL,
    "email": "layla@example.com",
    "password": "a long passphrase",
    "accessToken": "",
    "refreshToken": "",
}
# Body fields that carry the session's state instead of the schema's example value, so that
# register → login → search → book → pay works by pressing Send in order.
FIELD_VALUES: dict[str, str] = {
    "email": "{{email}}",
    "password": "{{password}}",
    "refreshToken": "{{refreshToken}}",
    "flightId": "{{flightId}}",
    "deviceName": "Postman",
}
# What a successful answer leaves for the next requests: operationId → (variable, JavaScript
# expression over the parsed body `body`).
CAPTURES: dict[str, tuple[tuple[str, str], ...]] = {
    "login": (("accessToken", "body.accessToken"), ("refreshToken", "body.refreshToken")),
    "refreshTokens": (("accessToken", "body.accessToken"), ("refreshToken", "body.refreshToken")),
    "searchFlights": (("flightId", "(body.flights && body.flights[0] || {}).id"),),
    "searchFlightsPost": (("flightId", "(body.flights && body.flights[0] || {}).id"),),
    "createBooking": (("bookingId", "body.id"),),
    "payBooking": (("checkoutUrl", "body.checkoutUrl"),),
}
LAST_FOLDERS = ("admin", "webhooks", "operations")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# --- reading the OpenAPI document ------------------------------------------------------------


def openapi_of_app() -> JsonObject:
    """The document the app serves at /openapi.json, built in memory."""
    from ais.app import create_app
    from ais.config import Settings

    with tempfile.TemporaryDirectory(prefix="ais-postman-") as directory:
        settings = Settings(
            _env_file=None,
            ais_env="development", ais_data_dir=Path(directory), database_url=f"sqlite:///{directory}/ais.db",
            redis_url=None, run_jobs_in_process=False, log_level="WARNING",
        ).with_embedded_secrets()
        return create_app(settings).openapi()


def read_openapi(source: str) -> JsonObject:
    """The document from a file, or from a URL such as http://127.0.0.1:8000/openapi.json."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (the operator's URL)
            return json.loads(response.read())
    return json.loads(Path(source).read_text())


def _resolve(document: JsonObject, schema: JsonObject) -> JsonObject:
    """Follow `$ref`s and take the non-null branch of an optional (`anyOf: [X, null]`)."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = document["components"]["schemas"][name]
        elif "anyOf" in schema:
            branches = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
            if not branches:
                return {}
            schema = branches[0]
        else:
            return schema


def example_value(document: JsonObject, schema: JsonObject) -> Any:
    """The schema's own example when it has one, else a value built from its parts."""
    for holder in (schema, _resolve(document, schema)):
        if holder.get("examples"):
            return holder["examples"][0]
        if "example" in holder:
            return holder["example"]
        if "default" in holder:
            return holder["default"]
    resolved = _resolve(document, schema)
    if resolved.get("enum"):
        return resolved["enum"][0]
    kind = resolved.get("type")
    if kind == "object" or "properties" in resolved:
        return {name: example_value(document, part) for name, part in resolved.get("properties", {}).items()}
    if kind == "array":
        return [example_value(document, resolved.get("items", {}))]
    return {"integer": 0, "number": 0, "boolean": False}.get(str(kind), "")


def _with_session_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: FIELD_VALUES.get(key, _with_session_fields(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_session_fields(item) for item in value]
    return value


def operations(document: JsonObject) -> list[tuple[str, str, JsonObject]]:
    """(method, path, operation) in the document's order."""
    return [(method.upper(), path, operation)
            for path, item in document["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS]


# --- building the collection -----------------------------------------------------------------


def variable_name(parameter: str) -> str:
    """`booking_id` → `bookingId`: path parameters read from collection variables."""
    head, *rest = parameter.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _success_status(operation: JsonObject) -> int:
    return min(int(code) for code in operation.get("responses", {"200": {}}) if code.startswith("2"))


def _error_lines(operation: JsonObject) -> list[str]:
    return [f"- {code}: {response.get('description', '')}"
            for code, response in sorted(operation.get("responses", {}).items()) if not code.startswith("2")]


def _description(operation: JsonObject) -> str:
    parts = [operation.get("description") or operation.get("summary") or "",
             f"operationId: `{operation['operationId']}`"]
    errors = _error_lines(operation)
    if errors:
        parts.append("Errors (body `{code, message, correlationId, retryable, details}`):\n" + "\n".join(errors))
    return "\n\n".join(part.strip() for part in parts if part.strip())


def _url(document: JsonObject, path: str, operation: JsonObject) -> JsonObject:
    parameters = operation.get("parameters", [])
    segments = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            segment = ":" + segment[1:-1]
        segments.append(segment)
    query = []
    for parameter in parameters:
        if parameter["in"] != "query":
            continue
        entry: JsonObject = {"key": parameter["name"],
                             "value": _text(example_value(document, parameter.get("schema", {})))}
        if parameter.get("description"):
            entry["description"] = parameter["description"]
        if not parameter.get("required"):
            entry["disabled"] = True
        query.append(entry)
    enabled = [f"{entry['key']}={entry['value']}" for entry in query if not entry.get("disabled")]
    url: JsonObject = {
        "raw": "{{baseUrl}}/" + "/".join(segments) + ("?" + "&".join(enabled) if enabled else ""),
        "host": ["{{baseUrl}}"],
        "path": segments,
    }
    if query:
        url["query"] = query
    variables = [{"key": parameter["name"], "value": "{{" + variable_name(parameter["name"]) + "}}"}
                 for parameter in parameters if parameter["in"] == "path"]
    if variables:
        url["variable"] = variables
    return url


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _headers(document: JsonObject, operation: JsonObject, has_body: bool) -> list[JsonObject]:
    headers: list[JsonObject] = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "header":
            continue
        if parameter["name"] == IDEMPOTENCY_HEADER and parameter.get("required"):
            headers.append({"key": IDEMPOTENCY_HEADER, "value": "{{$guid}}", "type": "text",
                            "description": "A new key on every send; to retry one request, send its key again."})
            continue
        entry: JsonObject = {"key": parameter["name"],
                             "value": _text(example_value(document, parameter.get("schema", {}))), "type": "text"}
        if not parameter.get("required"):
            entry["disabled"] = True
        headers.append(entry)
    if has_body:
        headers.append({"key": "Content-Type", "value": "application/json", "type": "text"})
    return headers


def _body(document: JsonObject, operation: JsonObject) -> JsonObject | None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    example = _with_session_fields(example_value(document, content.get("schema", {})))
    return {"mode": "raw", "raw": json.dumps(example, indent=2, ensure_ascii=False),
            "options": {"raw": {"language": "json"}}}


def _test_script(operation: JsonObject) -> JsonObject:
    status = _success_status(operation)
    lines = [f'pm.test("answers {status}", function () {{ pm.response.to.have.status({status}); }});']
    captures = CAPTURES.get(operation["operationId"], ())
    if captures:
        lines.append(f"if (pm.response.code === {status}) {{")
        lines.append("    const body = pm.response.json();")
        for variable, expression in captures:
            lines.append(f"    const {variable} = {expression};")
            lines.append(f'    if ({variable}) {{ pm.collectionVariables.set("{variable}", {variable}); }}')
        lines.append("}")
    return {"listen": "test", "script": {"type": "text/javascript", "exec": lines}}


def request_item(document: JsonObject, method: str, path: str, operation: JsonObject) -> JsonObject:
    body = _body(document, operation)
    request: JsonObject = {
        "method": method,
        "header": _headers(document, operation, body is not None),
        "url": _url(document, path, operation),
        "description": _description(operation),
    }
    if body is not None:
        request["body"] = body
    if not operation.get("security"):
        request["auth"] = {"type": "noauth"}  # public: no token sent (the others inherit the bearer)
    return {
        "name": operation.get("summary") or operation["operationId"],
        "event": [_test_script(operation)],
        "request": request,
    }


def _path_variables(document: JsonObject) -> list[str]:
    names: list[str] = []
    for _method, _path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            name = variable_name(parameter["name"])
            if parameter["in"] == "path" and name not in names:
                names.append(name)
    for captured in CAPTURES.values():
        for name, _expression in captured:
            if name not in names and name not in VARIABLES:
                names.append(name)
    return names


def build_collection(document: JsonObject) -> JsonObject:
    """The Postman v2.1 collection of every operation in `document`, one folder per tag."""
    folders: dict[str, list[JsonObject]] = {tag["name"]: [] for tag in document.get("tags", [])}
    for method, path, operation in operations(document):
        tag = (operation.get("tags") or ["default"])[0]
        folders.setdefault(tag, []).append(request_item(document, method, path, operation))
    # The app's journey first, in the document's order; staff, provider and operator folders last.
    for tag in LAST_FOLDERS:
        if tag in folders:
            folders[tag] = folders.pop(tag)
    info = document["info"]
    variables = {**VARIABLES, **{name: "" for name in _path_variables(document) if name not in VARIABLES}}
    return {
        "info": {
            # Stable, so a re-import updates the collection a developer already has.
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "ais:" + info["title"])),
            "name": info["title"],
            "description": (info.get("description") or "").strip() + "\n\nGenerated from the OpenAPI document "
            "by scripts/postman_collection.py (`make postman`); do not edit by hand.",
            "version": info["version"],
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}]},
        "variable": [{"key": key, "value": value, "type": "string"} for key, value in variables.items()],
        "item": [{"name": tag, "item": items} for tag, items in folders.items() if items],
    }


def render(collection: JsonObject) -> str:
    return json.dumps(collection, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Postman collection from the OpenAPI document.")
    parser.add_argument("--openapi", metavar="FILE_OR_URL",
                        help="read the document from a file or URL instead of building the app")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--output", type=Path, metavar="FILE", help="write the collection to FILE")
    target.add_argument("--check", type=Path, metavar="FILE", nargs="?", const=DEFAULT_OUTPUT,
                        help=f"exit 1 when FILE (default {DEFAULT_OUTPUT}) is not up to date")
    args = parser.parse_args(argv)
    text = render(build_collection(read_openapi(args.openapi) if args.openapi else openapi_of_app()))
    if args.check is not None:
        current = args.check.read_text() if args.check.exists() else ""
        if current != text:
            print(f"{args.check} is stale: run `make postman`", file=sys.stderr)
            return 1
        return 0
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
