"""SPEC §7, fuzzed: schemathesis drives every operation of our own OpenAPI document, as a stranger,
as a passenger and as an admin. Whatever it sends, the app never answers 5xx, every error keeps the
contract body, and every 2xx body matches the schema the document declares.

The run gets a database of its own: generated writes (flights an admin creates, users) must not
leak into the rows other tests count. Generation is seeded and derandomized, so a failure reproduces.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from sqlalchemy import create_engine, text

from ais.app import create_app
from ais.config import Settings
from ais.db import migrate
from ais.db.urls import sync_url
from tests.factories import PASSWORD
from tests.fixtures.backend import ADMIN_DSN, BACKEND
from tests.ops.contract import check_error_body

# AIS_FUZZ_EXAMPLES=500 for a deeper hunt; AIS_FUZZ_SEED to explore elsewhere than the default.
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": int(os.environ.get("AIS_FUZZ_SEED", "20261125")),
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {
            "deterministic": True,
            "max-examples": int(os.environ.get("AIS_FUZZ_EXAMPLES", "25")),
            "no-shrink": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)


@pytest.fixture(scope="module")
def contract_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ais-contract').as_posix()}/ais.db"
        name = None
    else:
        name = f"ais_contract_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    own = settings.model_copy(update={"database_url": url})
    migrate.upgrade(own)
    try:
        yield own
    finally:
        if name is not None:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_DOCUMENT_DIR = tempfile.TemporaryDirectory(prefix="ais-openapi-")  # removed when the run ends


def _document_app() -> Any:
    """An app used only to read the OpenAPI document at collection time (the document does not
    depend on the database, which it never opens); every call below goes to `contract_app`."""
    directory = _DOCUMENT_DIR.name
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, ais_data_dir=directory, database_url=f"sqlite:///{directory}/unused.db",
        log_level="WARNING", run_jobs_in_process=False,
    )
    return create_app(settings.with_embedded_secrets())


# Loaded eagerly: schemathesis' lazy `from_fixture` does not run under pytest 9 (it sets Node._nodeid).
schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app(), config=CONFIG)


@pytest.fixture(scope="module")
def contract_app(contract_settings: Settings) -> Iterator[Any]:
    app = create_app(contract_settings)
    yield app
    # The ASGI transport ran the app's lifespan (and its connection pool) on an event loop of
    # its own; ending the lifespans there closes the runtime before the database is dropped.
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


def _sign_in(app: Any, settings: Settings, *, admin: bool) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
    registered = schema["/api/v1/auth/register"]["POST"].Case(
        body={"email": email, "password": PASSWORD, "fullName": "Fuzz Tester"}
    ).call(app=app)
    assert registered.status_code == 201, registered.text
    if admin:
        engine = create_engine(sync_url(settings.effective_database_url))
        with engine.begin() as connection:
            connection.execute(text("UPDATE users SET role = 'admin' WHERE email = :email"), {"email": email})
        engine.dispose()
    login = schema["/api/v1/auth/login"]["POST"].Case(
        body={"email": email, "password": PASSWORD, "deviceName": "schemathesis"}
    ).call(app=app)
    assert login.status_code == 200, login.text
    return str(login.json()["accessToken"])


@pytest.fixture(scope="module")
def passenger_token(contract_app: Any, contract_settings: Settings) -> str:
    return _sign_in(contract_app, contract_settings, admin=False)


@pytest.fixture(scope="module")
def admin_token(contract_app: Any, contract_settings: Settings) -> str:
    return _sign_in(contract_app, contract_settings, admin=True)


def _describe(case: Any, response: Any) -> str:
    return (
        f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r} "
        f"headers={ {k: v for k, v in (case.headers or {}).items() if k.lower() != 'authorization'} } "
        f"sent-authorization={str(response.request.headers.get('Authorization'))[:20]!r} "
        f"→ {response.status_code} {response.text[:500]}"
    )


def check_response(case: Any, response: Any) -> None:
    assert response.status_code < 500, _describe(case, response)
    # schemathesis keeps headers as {lower-case name: [values]}
    headers = {"X-Correlation-Id": (response.headers.get("x-correlation-id") or [None])[0]}
    assert headers["X-Correlation-Id"], _describe(case, response)
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            pytest.fail(f"error body is not JSON: {_describe(case, response)}")
        problems = check_error_body(response.status_code, headers, body)
        assert not problems, f"{problems}: {_describe(case, response)}"
    else:
        case.validate_response(response, checks=[schemathesis.checks.response_schema_conformance])


# Logging out everywhere ends the caller's access tokens too (SPEC §6).
TOKEN_REVOKING_PATHS = {"/api/v1/auth/logout-all"}


@schema.parametrize()
def test_anonymous_calls_never_crash_and_keep_the_error_contract(case: Any, contract_app: Any) -> None:
    response = case.call(app=contract_app)
    check_response(case, response)


@schema.parametrize()
def test_passenger_calls_never_crash_and_keep_the_error_contract(
    case: Any, contract_app: Any, contract_settings: Settings, passenger_token: str
) -> None:
    token = passenger_token
    if case.path in TOKEN_REVOKING_PATHS:  # would revoke the shared token for every case after it
        token = _sign_in(contract_app, contract_settings, admin=False)
    response = case.call(app=contract_app, headers={"Authorization": f"Bearer {token}"})
    check_response(case, response)
    # A passenger never gets past an admin route. (Cases that test a missing Authorization header
    # have ours stripped by schemathesis; cases that try an undeclared method get 405 first.)
    if (
        case.path.startswith("/api/v1/admin/")
        and response.request.headers.get("Authorization")
        and case.method.upper() == case.operation.method.upper()
    ):
        assert response.status_code in (403, 422), _describe(case, response)


@schema.include(path_regex=r"^/api/v1/admin/").parametrize()
def test_admin_calls_never_crash_and_keep_the_error_contract(case: Any, contract_app: Any, admin_token: str) -> None:
    response = case.call(app=contract_app, headers={"Authorization": f"Bearer {admin_token}"})
    check_response(case, response)
