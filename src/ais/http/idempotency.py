"""Idempotent routes (SPEC §7): the `Idempotency-Key` header and the `idempotent(...)` dependency.

A route that creates or moves money declares

    idem: Annotated[IdempotentRequest, Depends(idempotent("bookings.create", body=BookingCreate))]

and ends with `return await idem.respond(201, answer)`. Before the route runs, the dependency
reads the header, the caller and the body's canonical hash and claims the key
(`ais.idempotency.service.claim`: in the route's own transaction, or, for a route that calls the
payment provider, in the one documented early commit). A key whose first attempt
completed is answered with its stored bytes and `Idempotent-Replayed: true` without running the
route (`IdempotentReplay`, turned into that response by `replay_response`). A route that raises
rolls the unit of work back, which releases the key; `respond` stores the answer in the route's
own transaction, so it commits with the work it describes.

The header is declared required, so the OpenAPI document (and every SDK generated from it) says
so. A request without it still answers 400 `IDEMPOTENCY_KEY_REQUIRED`, not the framework's 422:
see `ais.http.errors`, which recognises that one missing header.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request, Response
from pydantic import BaseModel

from ais.db.unit_of_work import UnitOfWork
from ais.http.dependencies import UnitOfWorkDep
from ais.idempotency import service
from ais.idempotency.service import Claim, StoredAnswer
from ais.identity.dependencies import CurrentUser, Principal

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Required: 1-255 printable ASCII characters, unique per operation you mean "
        "(a UUID is fine). A repeat with the same key and body replays the first answer for 24 h; "
        "the same key with another body is IDEMPOTENCY_PAYLOAD_MISMATCH.",
        examples=["6f1c9b1e-2a4d-4c1e-9a57-0d3c2b8e7f41"],
    ),
]

BeforeClaim = Callable[[Request, Principal], Awaitable[None]]


class IdempotentReplay(Exception):
    """Raised by the dependency for a completed key: the edge answers the stored bytes."""

    def __init__(self, answer: StoredAnswer) -> None:
        super().__init__("idempotent replay")
        self.answer = answer


def replay_response(answer: StoredAnswer) -> Response:
    return Response(content=answer.body, status_code=answer.status_code, media_type="application/json",
                    headers={REPLAY_HEADER: "true"})


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """The claimed key of this request; `respond` stores the answer with the route's work."""

    uow: UnitOfWork
    claim: Claim
    key: str  # the client's Idempotency-Key
    fingerprint: str  # the request's canonical hash (method, path, body)

    async def respond(self, status_code: int, answer: BaseModel) -> Response:
        body = answer.model_dump_json(by_alias=True).encode()
        await service.complete(self.uow, self.claim, status_code=status_code, body=body)
        return Response(content=body, status_code=status_code, media_type="application/json")


def idempotent(scope: str, *, body: type[BaseModel] | None = None, caller: Any = CurrentUser,
               before_claim: BeforeClaim | None = None,
               calls_provider: bool = True) -> Callable[..., Awaitable[IdempotentRequest]]:
    """The dependency of an idempotent route, for the operation `scope`.

    `body`: the route's request body model (the route's parameter must be called `body` too: FastAPI
    then reads one body for both). `caller`: the principal dependency (`AdminUser` on staff
    routes, so that a passenger is refused before any key is claimed). `before_claim`: a check
    that must refuse the request before the key is claimed (a rate limit). `calls_provider=False`
    for an operation that only writes to the database: its claim joins its own transaction (one
    commit, not two; see `ais.idempotency.service.claim`)."""

    async def claim_key(*, request: Request, uow: UnitOfWork, principal: Principal, key: str,
                        body: BaseModel | None = None) -> IdempotentRequest:
        if before_claim is not None:
            await before_claim(request, principal)
        fingerprint = service.request_hash(request.method, request.url.path, body)
        outcome = await service.claim(uow, user_id=principal.id, scope=scope, key=key, fingerprint=fingerprint,
                                      early_commit=calls_provider)
        if isinstance(outcome, StoredAnswer):
            raise IdempotentReplay(outcome)
        return IdempotentRequest(uow, outcome, key, fingerprint)

    # The signature FastAPI reads: the body parameter is there only when the route has a body, so
    # it is validated (422) before anything is claimed, and never turns into an empty object.
    parameters = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter("uow", inspect.Parameter.KEYWORD_ONLY, annotation=UnitOfWorkDep),
        inspect.Parameter("principal", inspect.Parameter.KEYWORD_ONLY, annotation=caller),
        inspect.Parameter("key", inspect.Parameter.KEYWORD_ONLY, annotation=IdempotencyKey),
    ]
    if body is not None:
        parameters.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body))
    claim_key.__signature__ = inspect.Signature(parameters, return_annotation=IdempotentRequest)  # type: ignore[attr-defined]
    claim_key.__name__ = f"idempotent_{scope.replace('.', '_')}"
    return claim_key
