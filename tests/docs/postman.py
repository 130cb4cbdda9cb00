"""The Postman collection as the tests use it: the generator script, the committed file, sending
one of its requests to the app as Postman would, and running a request's test script in a real
JavaScript engine with the few `pm` calls our scripts use."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postman_collection.py"
COLLECTION = ROOT / "docs" / "postman" / "ais.postman_collection.json"
_VARIABLE = re.compile(r"\{\{([^{}]+)\}\}")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("postman_collection", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, Any]:
    return json.loads(COLLECTION.read_text())  # type: ignore[no-any-return]


def requests_of(collection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every request item by its operationId (named in its description)."""
    found = {}
    for folder in collection["item"]:
        for item in folder["item"]:
            operation_id = re.search(r"operationId: `(\w+)`", item["request"]["description"])
            assert operation_id, item["name"]
            found[operation_id.group(1)] = {**item, "folder": folder["name"]}
    return found


def substitute(text: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "$guid":  # Postman's dynamic variable: a new UUID on every send
            return str(uuid.uuid4())
        return variables[name]

    return _VARIABLE.sub(value, text)


async def send(client: httpx.AsyncClient, item: dict[str, Any], variables: dict[str, str],
               auth: dict[str, Any]) -> httpx.Response:
    """Send the item's request as Postman does: variables filled in, disabled parts left out,
    path variables put in place, the collection's bearer auth unless the request says `noauth`."""
    request = item["request"]
    url = request["url"]
    path_values = {entry["key"]: substitute(entry["value"], variables) for entry in url.get("variable", [])}
    path = "/" + "/".join(path_values.get(segment[1:], segment) if segment.startswith(":") else segment
                          for segment in url["path"])
    query = {entry["key"]: substitute(entry["value"], variables)
             for entry in url.get("query", []) if not entry.get("disabled")}
    headers = {entry["key"]: substitute(entry["value"], variables)
               for entry in request.get("header", []) if not entry.get("disabled")}
    if request.get("auth", auth)["type"] == "bearer":
        token = next(entry["value"] for entry in auth["bearer"] if entry["key"] == "token")
        headers["Authorization"] = "Bearer " + substitute(token, variables)
    body = request.get("body")
    content = substitute(body["raw"], variables).encode() if body else None
    return await client.request(request["method"], path, params=query, headers=headers, content=content)


_PM_SHIM = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const variables = {};
const results = [];
const pm = {
  response: {
    code: input.status,
    json: () => input.body,
    to: { have: { status: (code) => { if (code !== input.status) throw new Error(`status ${input.status}`); } } },
  },
  collectionVariables: { set: (key, value) => { variables[key] = value; } },
  test: (name, check) => {
    try { check(); results.push({ name, passed: true }); }
    catch (error) { results.push({ name, passed: false, error: String(error) }); }
  },
};
new Function("pm", input.script)(pm);
process.stdout.write(JSON.stringify({ variables, results }));
"""


def javascript_engine() -> str | None:
    """Node.js: the machine's, else the one Playwright ships with its driver."""
    found = shutil.which("node")
    if found:
        return found
    try:
        import playwright
    except ImportError:
        return None
    bundled = Path(playwright.__file__).parent / "driver" / "node"
    return str(bundled) if bundled.exists() else None


def run_test_script(item: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    """The item's `test` script run against `response`: the variables it set and its pm.test results."""
    node = javascript_engine()
    assert node, "no JavaScript engine (node) to run the collection's scripts"
    script = "\n".join(line for event in item["event"] if event["listen"] == "test"
                       for line in event["script"]["exec"])
    payload = json.dumps({"status": response.status_code, "body": response.json(), "script": script})
    done = subprocess.run([node, "-e", _PM_SHIM], input=payload, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]
