"""Batch mode ("more availability"): one Lua call applies the update to every board it
feeds, appends the event to the stream for Worker 1, and announces changes of the top
10s."""

from __future__ import annotations

import functools

from ..actions import Action
from ..auth.tokens import Claims
from ..board.definitions import Board
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .limits import IDEMPOTENCY_TTL_S, RATE_PERIOD_MS


class BatchScorer:
    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None) -> None:
        self._update = scripts.load("update", redis, pipe, durable=True)

    async def apply(self, claims: Claims, action: Action, value: int,
                    idempotency_key: str | None, boards: list[Board], version: int,
                    body: str) -> scripts.ScoreReply:
        uid = claims.sub
        head_keys = scripts.UpdateKeys(
            seq=keys.SEQ, events=keys.EVENTS, profiles=keys.PROFILES, banned=keys.BANNED,
            revoked=keys.revoked_key(claims.jti), rate=keys.rate_key(uid, action.name),
            idem=keys.idem_key(uid, idempotency_key), version=keys.BOARDS_VERSION)
        head_args = scripts.UpdateArgs(
            uid=uid, action=action.name, value=value, body=body,
            limit=action.rate_per_minute, period_ms=RATE_PERIOD_MS,
            use_idem="1" if idempotency_key else "0", idem_ttl_s=IDEMPOTENCY_TTL_S,
            max_total=keys.MAX_TOTAL, channel=keys.CHANNEL, top_n=keys.TOP_N, version=version)
        reply = await self._update(
            keys=scripts.with_boards(head_keys, [board_keys(b) for b in boards]),
            args=scripts.with_boards(head_args, [board_args(b) for b in boards]))
        return scripts.parse_score_reply(reply)


# a board's groups change only with its definition: built once per definition
@functools.lru_cache(maxsize=1024)
def board_keys(b: Board) -> scripts.UpdateBoardKeys:
    return scripts.UpdateBoardKeys(b.keys.scores, b.keys.member, b.keys.boardseq)


@functools.lru_cache(maxsize=1024)
def board_args(b: Board) -> scripts.UpdateBoardArgs:
    return scripts.UpdateBoardArgs(b.id, b.season, b.operator, b.order)
