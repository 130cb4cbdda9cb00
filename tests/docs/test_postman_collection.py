"""The Postman collection in docs/postman is generated from the OpenAPI document
(scripts/postman_collection.py, `make postman`): never stale, a valid v2.1 collection, and its
requests work against the real app as generated."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import date
from typing import Any

from tests.docs.postman import COLLECTION, SCRIPT, committed, generator, requests_of, run_test_script, send
from tests.factories import PASSWORD, new_flight

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
METHODS = {"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"}
# The four writes that create or move money (the server answers 400 without the header).
IDEMPOTENT_WRITES = {"createBooking", "payBooking", "cancelBooking", "adminRefundBooking"}


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {operation["operationId"]: (method.upper(), path, operation)
            for path, item in document["paths"].items() for method, operation in item.items()}


async def test_the_committed_collection_is_what_the_openapi_document_gives_today(client):
    document = (await client.get("/openapi.json")).json()
    script = generator()

    regenerated = script.render(script.build_collection(document))

    assert COLLECTION.exists(), "docs/postman/ais.postman_collection.json is missing: run `make postman`"
    assert COLLECTION.read_text() == regenerated, f"{COLLECTION.name} is stale: run `make postman`"


def test_the_script_prints_the_committed_file_from_the_command_line():
    """As `make postman` and the docs run it: a process of its own, no server, no database."""
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False,
                          cwd=SCRIPT.parents[1])

    assert done.returncode == 0, done.stderr
    assert done.stdout == COLLECTION.read_text(), f"{COLLECTION.name} is stale: run `make postman`"


def test_the_check_option_tells_a_stale_file_from_a_current_one(tmp_path, capsys):
    script = generator()
    document = script.openapi_of_app()
    current = tmp_path / "current.json"
    current.write_text(script.render(script.build_collection(document)))
    stale = tmp_path / "stale.json"
    document["paths"]["/api/v1/me"]["get"]["summary"] = "Who am I"
    stale.write_text(script.render(script.build_collection(document)))

    assert script.main(["--check", str(current)]) == 0
    assert script.main(["--check", str(stale)]) == 1
    assert "make postman" in capsys.readouterr().err


def test_the_collection_has_the_shape_of_a_v2_1_collection():
    collection = committed()

    info = collection["info"]
    assert info["schema"] == SCHEMA_URL
    assert info["name"] and info["_postman_id"] and isinstance(info["description"], str)
    assert collection["auth"] == {"type": "bearer",
                                  "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}]}
    variables = {entry["key"]: entry["value"] for entry in collection["variable"]}
    assert variables["baseUrl"].startswith("http") and "accessToken" in variables
    folder_names = [folder["name"] for folder in collection["item"]]
    assert len(folder_names) == len(set(folder_names)) and all(folder_names)
    for folder in collection["item"]:
        assert set(folder) == {"name", "item"} and folder["item"], folder["name"]
        names = [item["name"] for item in folder["item"]]
        assert len(names) == len(set(names)) and all(names), names
        for item in folder["item"]:
            _check_request(item)


def _check_request(item: dict[str, Any]) -> None:
    request = item["request"]
    assert request["method"] in METHODS
    url = request["url"]
    assert url["host"] == ["{{baseUrl}}"]
    enabled = [f"{entry['key']}={entry['value']}" for entry in url.get("query", []) if not entry.get("disabled")]
    assert url["raw"] == "{{baseUrl}}/" + "/".join(url["path"]) + ("?" + "&".join(enabled) if enabled else "")
    path_variables = [segment[1:] for segment in url["path"] if segment.startswith(":")]
    assert [entry["key"] for entry in url.get("variable", [])] == path_variables, url["raw"]
    for header in request["header"]:
        assert set(header) <= {"key", "value", "type", "description", "disabled"} and header["key"]
    if "body" in request:
        assert request["body"]["mode"] == "raw" and request["body"]["options"] == {"raw": {"language": "json"}}
        json.loads(re.sub(r"\{\{[^{}]+\}\}", "x", request["body"]["raw"]))
    assert request.get("auth", {"type": "bearer"})["type"] in {"bearer", "noauth"}
    for event in item["event"]:
        assert event["listen"] in {"test", "prerequest"}
        assert event["script"]["type"] == "text/javascript"
        assert all(isinstance(line, str) for line in event["script"]["exec"])


async def test_one_request_per_operation_named_by_its_summary_in_its_tag_folder(client):
    document = (await client.get("/openapi.json")).json()
    requests = requests_of(committed())

    assert set(requests) == set(_operations(document))
    for operation_id, (method, path, operation) in _operations(document).items():
        item = requests[operation_id]
        assert item["name"] == operation["summary"]
        assert item["folder"] == operation["tags"][0]
        assert item["request"]["method"] == method
        assert "/" + "/".join(item["request"]["url"]["path"]) == re.sub(r"\{(\w+)\}", r":\1", path)


def test_the_four_money_writes_send_a_fresh_idempotency_key():
    requests = requests_of(committed())

    with_key = {operation_id for operation_id, item in requests.items()
                if any(header["key"] == "Idempotency-Key" for header in item["request"]["header"])}
    assert with_key == IDEMPOTENT_WRITES
    for operation_id in IDEMPOTENT_WRITES:
        header = next(h for h in requests[operation_id]["request"]["header"] if h["key"] == "Idempotency-Key")
        assert header["value"] == "{{$guid}}" and not header.get("disabled")


async def test_secured_operations_send_the_access_token_and_public_ones_none(client):
    document = (await client.get("/openapi.json")).json()
    requests = requests_of(committed())

    for operation_id, (_method, _path, operation) in _operations(document).items():
        auth = requests[operation_id]["request"].get("auth")
        if operation.get("security"):
            assert auth is None, operation_id  # inherits the collection's bearer {{accessToken}}
        else:
            assert auth == {"type": "noauth"}, operation_id


async def test_request_bodies_are_the_schema_examples(client):
    document = (await client.get("/openapi.json")).json()
    requests = requests_of(committed())
    schemas = document["components"]["schemas"]

    booking = json.loads(requests["createBooking"]["request"]["body"]["raw"])
    assert booking == {**schemas["BookingCreate"]["examples"][0], "flightId": "{{flightId}}"}
    register = json.loads(requests["register"]["request"]["body"]["raw"])
    assert register == {**schemas["RegisterRequest"]["examples"][0], "email": "{{email}}", "password": "{{password}}"}
    flight = json.loads(requests["adminCreateFlight"]["request"]["body"]["raw"])
    assert flight == schemas["FlightCreate"]["examples"][0]


def test_the_flight_search_request_asks_a_real_question():
    """Its query comes from the parameters' examples: two different airports and a date."""
    url = requests_of(committed())["searchFlights"]["request"]["url"]
    query = {entry["key"]: entry["value"] for entry in url["query"] if not entry.get("disabled")}

    assert set(query) == {"from", "to", "date"}
    assert re.fullmatch(r"[A-Z]{3}", query["from"]) and re.fullmatch(r"[A-Z]{3}", query["to"])
    assert query["from"] != query["to"]
    date.fromisoformat(query["date"])


async def test_register_login_book_as_generated_with_the_scripts_storing_what_comes_next(client, runtime):
    """Send the collection's requests in order, as a developer pressing Send would; each test
    script runs in a JavaScript engine and its stored variables feed the next request."""
    collection = committed()
    requests = requests_of(collection)
    variables = {entry["key"]: entry["value"] for entry in collection["variable"]}
    variables.update(email=f"postman-{uuid.uuid4().hex[:10]}@example.com", password=PASSWORD)
    auth = collection["auth"]

    async def press_send(operation_id: str, status: int) -> dict[str, Any]:
        item = requests[operation_id]
        response = await send(client, item, variables, auth)
        assert response.status_code == status, response.text
        outcome = run_test_script(item, response)
        assert outcome["results"] and all(result["passed"] for result in outcome["results"]), outcome
        variables.update(outcome["variables"])
        return response.json()  # type: ignore[no-any-return]

    await press_send("register", 201)
    tokens = await press_send("login", 200)
    assert (variables["accessToken"], variables["refreshToken"]) == (tokens["accessToken"], tokens["refreshToken"])
    assert (await press_send("getMe", 200))["email"] == variables["email"]

    rotated = await press_send("refreshTokens", 200)
    assert variables["refreshToken"] == rotated["refreshToken"] != tokens["refreshToken"]
    assert variables["accessToken"] == rotated["accessToken"]

    variables["flightId"] = (await new_flight(runtime)).id
    booking = await press_send("createBooking", 201)
    assert variables["bookingId"] == booking["id"] and booking["status"] == "reserved"
    assert (await press_send("getBooking", 200))["reference"] == booking["reference"]
    assert (await press_send("cancelBooking", 200))["status"] == "cancelled"
