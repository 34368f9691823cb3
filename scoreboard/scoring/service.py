"""The score update: check the action, find the boards it feeds, then apply it in the
configured mode."""

from __future__ import annotations

import logging

import asyncpg
from redis.exceptions import RedisError

from .. import errors
from ..auth.tokens import Claims
from ..board.definitions import Board
from ..board.registry import Boards, primary
from ..obs import metrics
from ..settings import Config
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .batch import BatchScorer
from .direct import DirectScorer
from .replies import Outcome, outcome, refusal

log = logging.getLogger(__name__)

STALE_RETRIES = 3  # board definitions changed under a request this often: give up (503)


class ScoreService:
    def __init__(self, config: Config, redis: RedisClient, pool: asyncpg.Pool, boards: Boards,
                 pipe: AutoPipeline | None = None) -> None:
        self.config = config
        self.boards = boards
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

    async def _targets(self, action_type: str, board_id: str | None) -> list[Board]:
        if board_id is None:
            boards = self.boards.feeding(action_type)
            if not boards:
                raise errors.ActionNotFeeding("This action feeds no board",
                                              fields={"action_type": ["Feeds no board."]})
            return boards
        board = await self.boards.get(board_id)
        if not board.feeds_on(action_type):
            raise errors.ActionNotFeeding(
                f"{action_type!r} does not feed board {board_id!r}",
                fields={"action_type": [f"Does not feed board {board_id!r}."]})
        return [board]

    async def update(self, claims: Claims, action_type: str, value: int,
                     idempotency_key: str | None, board_id: str | None = None) -> Outcome:
        """Apply one update: to every board ``action_type`` feeds, or to ``board_id`` only."""
        if board_id is not None and self.boards.cached(board_id) is None:
            await self.boards.get(board_id)  # an unknown board is 404 before anything else
        self.check_action(action_type, value)
        action = self.config.actions[action_type]
        # the same Idempotency-Key on the other endpoint is another request
        body = f"{action_type}:{value}" if board_id is None else f"{board_id}|{action_type}:{value}"
        try:
            for _ in range(STALE_RETRIES):
                boards = await self._targets(action_type, board_id)
                reply = await self._mode.apply(claims, action, value, idempotency_key, boards,
                                               self.boards.version, body)
                if reply.status != "STALE":
                    break
                await self.boards.load()
        except RedisError as exc:
            metrics.BACKEND_ERRORS.labels("redis").inc()
            log.warning("score update failed on Redis: %s", exc.__class__.__name__)
            raise errors.ServiceUnavailable("Score store unavailable; retry with the same "
                                            "Idempotency-Key") from None
        if reply.status == "STALE":
            raise errors.ServiceUnavailable("Boards are being changed; retry")
        if not reply.applied:
            raise refusal(reply, action_type)
        return outcome(claims.sub, boards, primary(boards), reply)
