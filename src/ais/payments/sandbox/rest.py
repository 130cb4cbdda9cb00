"""The Stripe REST subset under `/stripe/v1/` (mounted: `/_sandbox/stripe/v1/`).

Every call: Bearer secret key, form-encoded parameters (query string for GET), one unit of
work, Stripe's error shape, `Request-Id` on the answer. POSTs honour `Idempotency-Key`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ais.payments.sandbox import disputes, idempotency, objects, refunds, repository, sessions
from ais.payments.sandbox.config import SandboxConfig
from ais.payments.sandbox.errors import (
    StripeError,
    authentication_error,
    internal_error,
    param_error,
    resource_missing,
    unrecognized_url,
)
from ais.payments.sandbox.events import Context, discard_events, flush_events
from ais.payments.sandbox.expand import expand
from ais.payments.sandbox.forms import fingerprint, parse_form
from ais.payments.sandbox.ids import new_id
from ais.payments.sandbox.params import Params
from ais.payments.sandbox.repository import EventFilter
from ais.payments.sandbox.runtime import Sandbox

JsonObject = objects.JsonObject
Operation = Callable[[Context, Params], Awaitable[JsonObject]]
router = APIRouter(prefix="/stripe")
_log = structlog.get_logger("ais.payments.sandbox.rest")
_EVENT_TYPE = re.compile(r"^[a-z0-9_.*]{1,100}$")


def request_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


async def call(request: Request, operation: Operation) -> Response:
    """Authenticate, parse, run `operation` in one unit of work (replaying or recording an
    idempotent POST), expand, and answer in Stripe's format."""
    sandbox = request_sandbox(request)
    config = sandbox.config
    request_id = new_id("request")
    headers = {"Request-Id": request_id,
               "Stripe-Version": request.headers.get("stripe-version") or config.api_version}
    write = request.method == "POST"
    try:
        authenticate(request, config)
        tree = parse_form(await request.body() if write else request.url.query)
        key = request.headers.get("idempotency-key") if write else None
        if key is not None:
            idempotency.check_key(key)
            headers["Idempotency-Key"] = key
        params = Params(tree)
        path = request.url.path[request.url.path.index("/v1/"):]
        scope, digest = idempotency.scope_for(config.secret_key), fingerprint(tree)
        failure: StripeError | None = None
        async with sandbox.unit_of_work(request_id=request_id, idempotency_key=key) as ctx:
            if key is not None:
                await idempotency.serialize(ctx.conn, scope=scope, key=key)
                saved = await idempotency.lookup(ctx.conn, scope=scope, key=key, method=request.method, path=path,
                                                 fingerprint=digest, now=ctx.now)
                if saved is not None:
                    replay = {**headers, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
                    return JSONResponse(saved.body, status_code=saved.status_code, headers=replay)
            status, body = 200, {}
            if key is None:  # a refusal rolls the whole transaction back
                body = await expand(ctx.conn, await operation(ctx, params), params.expand())
            else:
                try:
                    # A refusal leaves no half-done work behind, yet its answer is kept for replay.
                    async with ctx.conn.begin_nested():
                        body = await expand(ctx.conn, await operation(ctx, params), params.expand())
                        await flush_events(ctx)
                except StripeError as exc:
                    discard_events(ctx)  # they described work the savepoint just undid
                    if not exc.stored or exc.status in (409, 429) or exc.status >= 500:
                        raise
                    failure, status, body = exc, exc.status, exc.body()
                await idempotency.save(ctx.conn, scope=scope, key=key, method=request.method, path=path,
                                       fingerprint=digest, status_code=status, body=body,
                                       request_id=request_id, now=ctx.now)
        if failure is not None:
            raise failure
        return JSONResponse(body, status_code=status, headers=headers)
    except StripeError as exc:
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
    except Exception:
        # Stripe answers its own bugs with a JSON api_error (which the SDK retries with the same
        # idempotency key), never with an HTML page.
        _log.exception("sandbox API request failed", method=request.method, path=request.url.path)
        error = internal_error()
        return JSONResponse(error.body(), status_code=error.status, headers=headers)


def authenticate(request: Request, config: SandboxConfig) -> None:
    """Bearer (or HTTP Basic with the key as user name, as `curl -u sk_test_…:` sends it)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    key: str | None = None
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = None
    if not key:
        raise authentication_error(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#"
            "authentication for details, or we can help at https://support.stripe.com/.")
    if not hmac.compare_digest(key.encode(), config.secret_key.encode()):
        shown = key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "****"
        raise authentication_error(f"Invalid API Key provided: {shown}")


# --- Checkout Sessions --------------------------------------------------------------------


@router.post("/v1/checkout/sessions")
async def create_checkout_session(request: Request) -> Response:
    return await call(request, sessions.create_session)


@router.get("/v1/checkout/sessions/{session_id}")
async def retrieve_checkout_session(request: Request, session_id: str) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        params.only("expand")
        return (await sessions.load_session(ctx, session_id)).body

    return await call(request, operation)


@router.get("/v1/checkout/sessions/{session_id}/line_items")
async def list_checkout_session_line_items(request: Request, session_id: str) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        params.only("expand", "limit", "starting_after", "ending_before")
        return sessions.line_items_list(await sessions.load_session(ctx, session_id))

    return await call(request, operation)


@router.post("/v1/checkout/sessions/{session_id}/expire")
async def expire_checkout_session(request: Request, session_id: str) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        params.only("expand")
        return await sessions.expire_session(ctx, session_id)

    return await call(request, operation)


# --- Payment objects ----------------------------------------------------------------------


def _retrieve(kind: str, param: str) -> Callable[[Request, str], Awaitable[Response]]:
    async def endpoint(request: Request, object_id: str) -> Response:
        async def operation(ctx: Context, params: Params) -> JsonObject:
            params.only("expand")
            stored = await repository.get_object(ctx.conn, object_id, kind)
            if stored is None:
                raise resource_missing(kind, object_id, param)
            return stored.body

        return await call(request, operation)

    return endpoint


router.add_api_route("/v1/payment_intents/{object_id}", _retrieve("payment_intent", "intent"), methods=["GET"])
router.add_api_route("/v1/charges/{object_id}", _retrieve("charge", "charge"), methods=["GET"])
router.add_api_route("/v1/refunds/{object_id}", _retrieve("refund", "refund"), methods=["GET"])
router.add_api_route("/v1/disputes/{object_id}", _retrieve("dispute", "dispute"), methods=["GET"])


@router.post("/v1/refunds")
async def create_refund(request: Request) -> Response:
    return await call(request, refunds.create_refund)


@router.get("/v1/refunds")
async def list_refunds(request: Request) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        params.only("charge", "payment_intent", "limit", "expand")
        data, has_more = await repository.list_refunds(
            ctx.conn, charge=params.string("charge"), payment_intent=params.string("payment_intent"),
            limit=params.integer("limit", minimum=1, maximum=100) or 10,
        )
        return objects.list_object(data, has_more=has_more, url="/v1/refunds")

    return await call(request, operation)


@router.post("/v1/test_helpers/charges/{charge_id}/dispute")
async def dispute_charge(request: Request, charge_id: str) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        return await disputes.create_dispute(ctx, charge_id, params)

    return await call(request, operation)


@router.post("/v1/test_helpers/disputes/{dispute_id}/close")
async def close_dispute(request: Request, dispute_id: str) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        return await disputes.close_dispute(ctx, dispute_id, params)

    return await call(request, operation)


# --- Events -------------------------------------------------------------------------------


@router.get("/v1/events")
async def list_events(request: Request) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        data, has_more = await repository.list_events(ctx.conn, await _event_filter(ctx, params))
        return objects.list_object(data, has_more=has_more, url="/v1/events")

    return await call(request, operation)


@router.get("/v1/events/{event_id}")
async def retrieve_event(request: Request, event_id: str) -> Response:
    async def operation(ctx: Context, params: Params) -> JsonObject:
        params.only("expand")
        body = await repository.get_event(ctx.conn, event_id)
        if body is None:
            raise resource_missing("event", event_id, "id")
        return body

    return await call(request, operation)


async def _event_filter(ctx: Context, params: Params) -> EventFilter:
    params.only("limit", "type", "types", "starting_after", "ending_before", "created", "expand")
    limit = params.integer("limit", minimum=1, maximum=100) or 10
    single, several = params.string("type"), params.strings("types")
    if single is not None and several:
        raise param_error("You may pass either `type` or `types`, but not both.", "types")
    patterns = [single] if single is not None else several
    for pattern in patterns:
        if not _EVENT_TYPE.match(pattern):
            raise param_error(f"Invalid event type: {pattern}", "type")
    if "starting_after" in params and "ending_before" in params:
        raise param_error("You may only specify one of these parameters: ending_before, starting_after.",
                          "ending_before", "parameters_exclusive")
    cursors: dict[str, int] = {}
    for name in ("starting_after", "ending_before"):
        event_id = params.string(name)
        if event_id is not None:
            seq = await repository.event_seq(ctx.conn, event_id)
            if seq is None:
                raise resource_missing("event", event_id, name)
            cursors[name] = seq
    return EventFilter(type_patterns=patterns, limit=limit, starting_after=cursors.get("starting_after"),
                       ending_before=cursors.get("ending_before"), created=_created(params))


def _created(params: Params) -> dict[str, int]:
    if "created" not in params:
        return {}
    if params.is_scalar("created"):
        exact = params.required_integer("created")
        return {"gte": exact, "lte": exact}
    bounds = params.child("created")
    if bounds is None:
        return {}
    bounds.only("gt", "gte", "lt", "lte")
    return {op: value for op in ("gt", "gte", "lt", "lte") if (value := bounds.integer(op)) is not None}


# --- Anything else: Stripe's 404 ----------------------------------------------------------


@router.api_route("/{rest:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"], include_in_schema=False)
async def unrecognized(request: Request, rest: str) -> Response:
    error = unrecognized_url(request.method, f"/{rest}")
    return JSONResponse(error.body(), status_code=error.status, headers={"Request-Id": new_id("request")})
