"""Typed exceptions: every error envelope (``{"success": false, "error": {"code",
"message", "fields"?}}``) becomes the exception of its ``code``."""

from __future__ import annotations

from typing import Any


class ScoreboardError(Exception):
    """An error the service answered (or, ``code`` ``UNAVAILABLE``, one it could not be
    reached for after every try)."""

    code = "ERROR"

    def __init__(self, message: str, *, code: str | None = None, status: int = 0,
                 fields: dict[str, Any] | None = None, retry_after: float | None = None
                 ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status
        self.fields = fields or {}
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, status={self.status})"


class ValidationError(ScoreboardError):
    code = "VALIDATION_ERROR"


class Unauthorized(ScoreboardError):
    code = "UNAUTHORIZED"


class Forbidden(ScoreboardError):
    code = "FORBIDDEN"


class NotFound(ScoreboardError):
    code = "NOT_FOUND"


class Conflict(ScoreboardError):
    code = "CONFLICT"


class RateLimited(ScoreboardError):
    code = "RATE_LIMITED"


class ScoreLimitExceeded(ScoreboardError):
    code = "SCORE_LIMIT_EXCEEDED"


class IdempotencyKeyReused(ScoreboardError):
    code = "IDEMPOTENCY_KEY_REUSED"


class ServiceUnavailable(ScoreboardError):
    code = "SERVICE_UNAVAILABLE"


class Unreachable(ScoreboardError):
    """No answer after every try (timeouts, connection errors)."""

    code = "UNREACHABLE"


_BY_CODE: dict[str, type[ScoreboardError]] = {
    cls.code: cls for cls in (ValidationError, Unauthorized, Forbidden, NotFound, Conflict,
                              RateLimited, ScoreLimitExceeded, IdempotencyKeyReused,
                              ServiceUnavailable)}


def from_envelope(status: int, body: Any, retry_after: float | None = None) -> ScoreboardError:
    """The exception for an error answer (a body that is no envelope still gets one)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ScoreboardError(f"HTTP {status}", status=status, retry_after=retry_after)
    code = str(error.get("code", "ERROR"))
    cls = _BY_CODE.get(code, ScoreboardError)
    return cls(str(error.get("message", "")), code=code, status=status,
               fields=error.get("fields"), retry_after=retry_after)
