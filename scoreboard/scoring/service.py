"""The score update: check the action, then apply it in the configured mode."""

from __future__ import annotations

import logging

import asyncpg
from redis.exceptions import RedisError

from .. import errors
from ..auth.tokens import Claims
from ..obs import metrics
from ..settings import Config
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .batch import BatchScorer
from .direct import DirectScorer
from .replies import Outcome, outcome, refusal

log = logging.getLogger(__name__)


class ScoreService:
    def __init__(self, config: Config, redis: RedisClient, pool: asyncpg.Pool,
                 pipe: AutoPipeline | None = None) -> None:
        self.config = config
        self._mode: BatchScorer | DirectScorer = (
            DirectScorer(redis, pipe, pool) if config.persist_mode == "direct"
            else BatchScorer(redis, pipe))

    def check_action(self, action_type: str, increment: int) -> None:
        action = self.config.actions.get(action_type)
        if action is None:
            known = ", ".join(sorted(self.config.actions))
            message = f"Unknown action. Known: {known}."
            raise errors.ValidationFailed(fields={"action_type": [message]})
        if increment > action.max_increment:
            raise errors.ScoreLimitExceeded(
                f"{action_type!r} allows at most {action.max_increment} points per update"
            )

    async def update(self, claims: Claims, action_type: str, increment: int,
                     idempotency_key: str | None) -> Outcome:
        self.check_action(action_type, increment)
        action = self.config.actions[action_type]
        try:
            reply = await self._mode.apply(claims, action, increment, idempotency_key)
        except RedisError as exc:
            metrics.BACKEND_ERRORS.labels("redis").inc()
            log.warning("score update failed on Redis: %s", exc.__class__.__name__)
            raise errors.ServiceUnavailable("Score store unavailable; retry with the same "
                                            "Idempotency-Key") from None
        if not reply.applied:
            raise refusal(reply, action_type)
        return outcome(claims.sub, reply)
