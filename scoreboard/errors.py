"""The error vocabulary: every code the API answers with, in one table.

The middleware (status and envelope), the OpenAPI document (responses) and the
metrics (score-update outcomes) all read ``REGISTRY``; the exceptions below
raise its codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    outcome: str  # the ``outcome`` label of scoreboard_score_updates_total
    message: str  # the default message
    when: str  # one line for the API docs


REGISTRY: dict[str, ErrorCode] = {e.code: e for e in (
    ErrorCode("VALIDATION_ERROR", 400, "invalid", "Request validation failed",
              "malformed JSON, wrong types, unknown fields, bad query values; a server key's "
              "update without user_id; a batch of 0 or over 100"),
    ErrorCode("UNAUTHORIZED", 401, "auth", "Invalid or expired authentication token",
              "missing, bad, expired or logged-out token; unknown user; a malformed, unknown, "
              "revoked or another deployment's server key"),
    ErrorCode("FORBIDDEN", 403, "forbidden", "Not allowed",
              "banned player; non-admin on admin routes; a server key off the score routes "
              "or outside its actions; a player's own write to an authoritative board; "
              "WebSocket Origin not allowed"),
    ErrorCode("NOT_FOUND", 404, "error", "Not found",
              "unknown route, unranked player, unknown user, unknown or retired board; a "
              "server key naming no such player"),
    ErrorCode("METHOD_NOT_ALLOWED", 405, "error", "Method not allowed",
              "wrong method (with Allow)"),
    ErrorCode("REQUEST_TIMEOUT", 408, "invalid", "The request body did not arrive in time",
              "a body not received within HTTP_READ_TIMEOUT_S"),
    ErrorCode("IDEMPOTENCY_IN_PROGRESS", 409, "idempotency",
              "A request with this Idempotency-Key is still being processed",
              "direct mode: the same key is still being processed"),
    ErrorCode("CONFLICT", 409, "error", "Conflicts with an existing resource",
              "username or email taken; a board id that exists; a board's order or operator "
              "changed while it has scores; deleting or scheduling `global`"),
    ErrorCode("PAYLOAD_TOO_LARGE", 413, "invalid", "Request body is too large",
              "body over 64 KiB (a batch's: 256 KiB)"),
    ErrorCode("UNSUPPORTED_MEDIA_TYPE", 415, "invalid", "Content-Type must be application/json",
              "a body that is not application/json"),
    ErrorCode("SCORE_LIMIT_EXCEEDED", 422, "cap", "Score increment exceeds the limit",
              "increment over the action's cap or under its min_value, or a total over "
              "2^53 - 1"),
    ErrorCode("IDEMPOTENCY_KEY_REUSED", 422, "idempotency",
              "This Idempotency-Key was used with a different request body",
              "the same key with another body"),
    ErrorCode("RATE_LIMITED", 429, "rate", "Too many score updates for this action",
              "over the action's rate (with Retry-After), or too many sockets"),
    ErrorCode("INTERNAL_ERROR", 500, "error", "Internal server error",
              "a bug; the message says nothing more"),
    ErrorCode("SERVICE_UNAVAILABLE", 503, "unavailable", "Service temporarily unavailable",
              "Redis (or, in direct mode, PostgreSQL) unreachable: nothing counted"),
)}

# The code for a status that aiohttp itself raises (an unknown route, a wrong method,
# an oversized body, ...).
BY_STATUS: dict[int, str] = {
    e.status: e.code for e in reversed(REGISTRY.values())
    if e.status in (400, 401, 403, 404, 405, 413, 415)
}


def outcome_of(code: str) -> str:
    entry = REGISTRY.get(code)
    return entry.outcome if entry is not None else "error"


class ApiError(Exception):
    """An error the API answers with; subclasses name their code."""

    code = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        entry = REGISTRY[self.code]
        self.status = entry.status
        self.message = message or entry.message
        super().__init__(self.message)
        self.fields = fields
        self.headers = headers or {}


class ValidationFailed(ApiError):
    code = "VALIDATION_ERROR"


class ActionNotFeeding(ValidationFailed):
    """422 VALIDATION_ERROR: a well-formed update whose action does not feed the board."""

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message, fields=fields)
        self.status = 422


class Unauthorized(ApiError):
    code = "UNAUTHORIZED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class NotFound(ApiError):
    code = "NOT_FOUND"


class InProgress(ApiError):
    code = "IDEMPOTENCY_IN_PROGRESS"


class RequestTimeout(ApiError):
    code = "REQUEST_TIMEOUT"


class Conflict(ApiError):
    code = "CONFLICT"


class PayloadTooLarge(ApiError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class ScoreLimitExceeded(ApiError):
    code = "SCORE_LIMIT_EXCEEDED"


class IdempotencyKeyReused(ApiError):
    code = "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ApiError):
    code = "RATE_LIMITED"


class ServiceUnavailable(ApiError):
    code = "SERVICE_UNAVAILABLE"


def rate_limited(what: str, wait_ms: int) -> RateLimited:
    """429 with ``Retry-After`` in whole seconds (at least 1) for a wait the GCRA gave."""
    wait_s = max(1, -(-wait_ms // 1000))
    return RateLimited(f"{what}; retry in {wait_s} s", headers={"Retry-After": str(wait_s)})


BY_CODE: dict[str, type[ApiError]] = {cls.code: cls for cls in (
    ApiError, ValidationFailed, Unauthorized, Forbidden, NotFound, InProgress, Conflict,
    RequestTimeout,
    PayloadTooLarge, UnsupportedMediaType, ScoreLimitExceeded, IdempotencyKeyReused,
    RateLimited, ServiceUnavailable,
)}
