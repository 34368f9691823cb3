"""API errors: each maps to one code and HTTP status of the contract."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "INTERNAL_ERROR"
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields
        self.headers = headers or {}


class ValidationFailed(ApiError):
    status, code, message = 400, "VALIDATION_ERROR", "Request validation failed"


class Unauthorized(ApiError):
    status, code, message = 401, "UNAUTHORIZED", "Invalid or expired authentication token"


class Forbidden(ApiError):
    status, code, message = 403, "FORBIDDEN", "Not allowed"


class NotFound(ApiError):
    status, code, message = 404, "NOT_FOUND", "Not found"


class InProgress(ApiError):
    status, code = 409, "IDEMPOTENCY_IN_PROGRESS"
    message = "A request with this Idempotency-Key is still being processed"


class Conflict(ApiError):
    status, code, message = 409, "CONFLICT", "Conflicts with an existing resource"


class PayloadTooLarge(ApiError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body is too large"


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json"


class ScoreLimitExceeded(ApiError):
    status, code, message = 422, "SCORE_LIMIT_EXCEEDED", "Score increment exceeds the limit"


class IdempotencyKeyReused(ApiError):
    status, code = 422, "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used with a different request body"


class RateLimited(ApiError):
    status, code, message = 429, "RATE_LIMITED", "Too many score updates for this action"


class ServiceUnavailable(ApiError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable"
