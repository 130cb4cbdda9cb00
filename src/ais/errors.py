"""The error contract: every non-2xx answer is `{code, message, correlationId, retryable, details}`.

Domain code raises an `AISError` subclass named after the situation; one handler turns it
into the contract body. The framework's own errors (404, 405, 422) and unexpected
exceptions are mapped to the same shape by the HTTP edge, `ais.http.errors`. This module is below
every domain: services import their errors from here.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AISError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    status_code: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "Internal error."
    # True for the rare refusal whose changes must stand: the unit of work commits, then the
    # error is answered (a reused refresh token signs its device out, then is refused).
    keeps_changes: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(AISError):
    code = "VALIDATION_ERROR"
    status_code = 422
    default_message = "The request is not valid."


class Unauthorized(AISError):
    code = "UNAUTHORIZED"
    status_code = 401
    default_message = "Authentication is required."


class TokenExpired(AISError):
    code = "TOKEN_EXPIRED"
    status_code = 401
    default_message = "The access token has expired."


class Forbidden(AISError):
    code = "FORBIDDEN"
    status_code = 403
    default_message = "You may not do this."


class NotFound(AISError):
    code = "NOT_FOUND"
    status_code = 404
    default_message = "Not found."


class SeatsUnavailable(AISError):
    code = "SEATS_UNAVAILABLE"
    status_code = 409
    default_message = "Not enough seats are available in this cabin."


class BookingConflict(AISError):
    code = "BOOKING_CONFLICT"
    status_code = 409
    default_message = "The booking conflicts with its current state."


class InvalidStateTransition(AISError):
    code = "INVALID_STATE_TRANSITION"
    status_code = 409
    default_message = "The booking cannot move to that state."


class BookingExpired(AISError):
    code = "BOOKING_EXPIRED"
    status_code = 409
    default_message = "The seat hold of this booking has expired."


class PaymentFailed(AISError):
    code = "PAYMENT_FAILED"
    status_code = 402
    default_message = "The payment failed."


class PaymentRequired(AISError):
    code = "PAYMENT_REQUIRED"
    status_code = 402
    default_message = "The booking must be paid first."


class IdempotencyKeyRequired(AISError):
    code = "IDEMPOTENCY_KEY_REQUIRED"
    status_code = 400
    default_message = "This operation requires an Idempotency-Key header."


class IdempotencyInProgress(AISError):
    code = "IDEMPOTENCY_IN_PROGRESS"
    status_code = 409
    retryable = True
    default_message = "A request with this Idempotency-Key is still being processed."


class IdempotencyPayloadMismatch(AISError):
    code = "IDEMPOTENCY_PAYLOAD_MISMATCH"
    status_code = 422
    default_message = "This Idempotency-Key was used with a different request."


class InvalidSignature(AISError):
    """A webhook whose Stripe-Signature is missing, wrong, stale or does not match the body (raised
    by the gateway's check, with the reason as its message). 400 as SPEC §5 asks (Stripe treats
    it as a delivery failure); nothing is stored."""

    code = "INVALID_SIGNATURE"
    status_code = 400
    default_message = "The Stripe-Signature header is missing or does not verify."


class RateLimited(AISError):
    code = "RATE_LIMITED"
    status_code = 429
    retryable = True
    default_message = "Too many requests; retry later."

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(
            message,
            details={"retryAfterSeconds": retry_after_seconds},
            headers={"Retry-After": str(retry_after_seconds)},
        )


class PayloadTooLarge(AISError):
    """A request body over the route's limit, refused before it is read whole (SPEC §6)."""

    code = "PAYLOAD_TOO_LARGE"
    status_code = 413
    default_message = "The request body is too large."

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"The request body is larger than {limit_bytes} bytes.",
                         details={"limitBytes": limit_bytes})


class ServiceUnavailable(AISError):
    code = "SERVICE_UNAVAILABLE"
    status_code = 503
    retryable = True
    default_message = "The service is temporarily unavailable; retry later."


class InternalError(AISError):
    pass


ALL_ERRORS: tuple[type[AISError], ...] = (
    ValidationFailed,
    Unauthorized,
    TokenExpired,
    Forbidden,
    NotFound,
    SeatsUnavailable,
    BookingConflict,
    InvalidStateTransition,
    BookingExpired,
    PaymentFailed,
    PaymentRequired,
    IdempotencyKeyRequired,
    IdempotencyInProgress,
    IdempotencyPayloadMismatch,
    InvalidSignature,
    RateLimited,
    PayloadTooLarge,
    ServiceUnavailable,
    InternalError,
)
