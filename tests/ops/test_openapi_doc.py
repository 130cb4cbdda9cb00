"""SPEC §7: /docs and /openapi.json, with examples and every error code."""

from __future__ import annotations

import json

from tests.ops.contract import ERROR_KEYS, SPEC_ERROR_CODES


def declared_error_examples(document: dict) -> dict[str, set[int]]:
    """Error code → the statuses under which some operation declares an example of it."""
    found: dict[str, set[int]] = {}
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                for media in response.get("content", {}).values():
                    for example in media.get("examples", {}).values():
                        value = example.get("value")
                        if isinstance(value, dict) and "code" in value:
                            found.setdefault(value["code"], set()).add(int(status))
    return found


async def test_openapi_declares_every_error_code_with_its_status(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()

    declared = declared_error_examples(document)
    missing = sorted(set(SPEC_ERROR_CODES) - set(declared))
    assert not missing, f"error codes no operation declares: {missing}"
    for code, statuses in declared.items():
        if code in SPEC_ERROR_CODES:
            assert statuses == {SPEC_ERROR_CODES[code][0]}, (code, statuses)


async def test_declared_error_examples_are_contract_bodies(client):
    document = (await client.get("/openapi.json")).json()
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if int(status) < 400:
                    continue
                for media in response.get("content", {}).values():
                    for example in media.get("examples", {}).values():
                        value = example["value"]
                        assert set(value) == ERROR_KEYS, value
                        assert value["retryable"] is SPEC_ERROR_CODES[value["code"]][1], value


async def test_declared_errors_use_the_contract_body_and_input_can_be_invalid(client):
    document = (await client.get("/openapi.json")).json()
    assert set(document["components"]["schemas"]["ErrorBody"]["properties"]) == ERROR_KEYS
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and int(status) != 422:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in operation["responses"], (method, path)


async def test_docs_is_an_html_page_pointing_at_the_document(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "/openapi.json" in response.text
    assert response.headers["X-Correlation-Id"]


async def test_the_document_is_valid_json_with_our_identity(client):
    response = await client.get("/openapi.json")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    assert "/api/v1/auth/login" in document["paths"]
