"""Stripe's error contract: `{"error": {type, code, message, param, ...}}` with its HTTP status."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An API error as Stripe answers it.

    `stored` says whether an idempotent request keeps this answer for replay. Stripe keeps
    every result once the endpoint started executing, but not parameter-validation failures
    nor conflicts, so a corrected retry with the same key can still run.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        stored: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.stored = stored
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}#{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def param_error(message: str, param: str | None, code: str | None = None) -> StripeError:
    """The request's parameters are wrong: never stored against an idempotency key."""
    return StripeError(400, message, code=code, param=param, stored=False)


def missing_param(param: str) -> StripeError:
    return param_error(f"Missing required param: {param}.", param, "parameter_missing")


def unknown_param(param: str) -> StripeError:
    return param_error(f"Received unknown parameter: {param}", param, "parameter_unknown")


def resource_missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def state_error(message: str, code: str | None = None, param: str | None = None) -> StripeError:
    """The objects are not in a state that allows this: a business answer, stored for replay."""
    return StripeError(400, message, code=code, param=param)


def authentication_error(message: str) -> StripeError:
    return StripeError(401, message, stored=False)


def internal_error() -> StripeError:
    return StripeError(500, "An unknown error occurred while processing the request.", type="api_error",
                       stored=False)


def sandbox_unavailable() -> StripeError:
    return StripeError(503, "The payment sandbox is shutting down; retry in a moment.", type="api_error",
                       stored=False)


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        stored=False,
    )
