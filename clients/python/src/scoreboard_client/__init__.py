"""Scoreboard's Python client: ``Client`` (sync) and ``AsyncClient`` (asyncio, with
``watch``), typed replies (``models``), typed errors (``errors``) and the retry rule
(``Retry``)."""

from .aio import AsyncClient
from .calls import MAX_BATCH
from .client import Client
from .errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    RateLimited,
    ScoreboardError,
    ScoreLimitExceeded,
    ServiceUnavailable,
    Unauthorized,
    Unreachable,
    ValidationError,
)
from .retry import Retry

__all__ = ["MAX_BATCH", "AsyncClient", "Client", "Conflict", "Forbidden",
           "IdempotencyKeyReused", "NotFound", "RateLimited", "Retry", "ScoreLimitExceeded",
           "ScoreboardError", "ServiceUnavailable", "Unauthorized", "Unreachable",
           "ValidationError"]
