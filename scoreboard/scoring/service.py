"""The score update: check the action and the writer, find the boards it feeds, then
apply it in the configured mode. A batch is many updates, each as if alone, in one
call to the mode."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg
from redis.exceptions import RedisError

from .. import errors
from ..actions import Action
from ..board.definitions import Board
from ..board.registry import Boards, primary
from ..obs import metrics
from ..settings import Config
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .batch import BatchScorer
from .direct import DirectScorer
from .replies import Outcome, outcome, refusal
from .submission import Plan, Submission, Writer, idempotency_body

log = logging.getLogger(__name__)

STALE_RETRIES = 3  # board definitions changed under a request this often: give up (503)
Result = Outcome | errors.ApiError


class ScoreService:
    def __init__(self, config: Config, redis: RedisClient, pool: asyncpg.Pool, boards: Boards,
                 pipe: AutoPipeline | None = None) -> None:
        self.config = config
        self.boards = boards
        self._mode: BatchScorer | DirectScorer = (
            DirectScorer(redis, pipe, pool) if config.persist_mode == "direct"
            else BatchScorer(redis, pipe))

    def check_action(self, action_type: str, value: int) -> Action:
        action = self.config.actions.get(action_type)
        if action is None:
            known = ", ".join(sorted(self.config.actions))
            message = f"Unknown action. Known: {known}."
            raise errors.ValidationFailed(fields={"action_type": [message]})
        if value > action.max_increment:
            raise errors.ScoreLimitExceeded(
                f"{action_type!r} allows at most {action.max_increment} points per update")
        if value < action.min_value:
            raise errors.ScoreLimitExceeded(
                f"{action_type!r} takes values of at least {action.min_value}")
        return action

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

    async def _plan(self, writer: Writer, sub: Submission) -> Plan:
        """The checks made before Redis, in the order a caller is told of them."""
        if sub.board_id is not None and self.boards.cached(sub.board_id) is None:
            await self.boards.get(sub.board_id)  # an unknown board is 404 before anything else
        action = self.check_action(sub.action_type, sub.value)
        if writer.key is not None and not writer.key.allows(action.name):
            raise errors.Forbidden(f"This server key may not write {action.name!r}")
        boards = await self._targets(action.name, sub.board_id)
        if writer.key is None:
            closed = [b.id for b in boards if b.authoritative]
            if closed:
                raise errors.Forbidden(f"Board {closed[0]!r} takes scores from game servers "
                                       "only (server keys)")
        # the body an Idempotency-Key is bound to; without a key the scripts never read it
        return Plan(sub, action, boards, idempotency_body(sub) if sub.idempotency_key else "")

    async def update(self, writer: Writer, sub: Submission) -> Outcome:
        """Apply one update: to every board its action feeds, or to its board only."""
        result = (await self.update_many(writer, [sub]))[0]
        if isinstance(result, errors.ApiError):
            raise result
        return result

    async def update_many(self, writer: Writer, subs: Sequence[Submission]) -> list[Result]:
        """Each update on its own, as if alone: an outcome or an error per update, in
        order. Raises only when the store failed (503: retry with the same keys)."""
        results: list[Result | None] = [None] * len(subs)
        for _ in range(STALE_RETRIES):
            plans: list[tuple[int, Plan]] = []
            for i, sub in enumerate(subs):
                if results[i] is None:
                    try:
                        plans.append((i, await self._plan(writer, sub)))
                    except errors.ApiError as exc:
                        results[i] = exc
            if not plans:
                break
            try:
                replies = await self._mode.apply(writer, [p for _, p in plans],
                                                 self.boards.version)
            except RedisError as exc:
                metrics.BACKEND_ERRORS.labels("redis").inc()
                log.warning("score update failed on Redis: %s", exc.__class__.__name__)
                raise errors.ServiceUnavailable("Score store unavailable; retry with the same "
                                                "Idempotency-Key") from None
            stale = False
            for (i, plan), reply in zip(plans, replies, strict=True):
                if reply.status == "STALE":
                    stale = True
                elif reply.applied:
                    results[i] = outcome(plan.sub.user_id, plan.boards, primary(plan.boards),
                                         reply)
                else:
                    results[i] = refusal(reply, plan.action.name, writer.key is not None,
                                         plan.boards[0].id)
            if not stale:
                break
            await self.boards.load()
        return [r if r is not None else errors.ServiceUnavailable(
            "Boards are being changed; retry") for r in results]
