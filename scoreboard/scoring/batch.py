"""Batch mode ("more availability"): one Lua call applies each update to every board it
feeds, appends its event to the stream for Worker 1, and announces changes of the top
10s. A batch of updates is the same one call."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ..board.definitions import Board
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .limits import IDEMPOTENCY_TTL_S, RATE_PERIOD_MS
from .submission import Plan, Writer

HEAD_KEYS = scripts.UpdateKeys(seq=keys.SEQ, events=keys.EVENTS, profiles=keys.PROFILES,
                               banned=keys.BANNED, version=keys.BOARDS_VERSION)


class BatchScorer:
    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None) -> None:
        self._update = scripts.load("update", redis, pipe, durable=True)

    async def apply(self, writer: Writer, plans: Sequence[Plan],
                    version: int) -> list[scripts.ScoreReply]:
        """Each plan applied on its own, in one call; one reply per plan, in order."""
        key_id = writer.key_id
        server_key = key_id or None
        item_keys, item_args = [], []
        for p in plans:
            sub, boards = p.sub, p.boards
            uid = sub.user_id
            item_keys.append((scripts.UpdateItemKeys(
                revoked=writer.revoked, rate=keys.rate_key(uid, p.action.name),
                idem=keys.idem_key(uid, sub.idempotency_key, server_key)),
                [board_keys(b) for b in boards]))
            item_args.append((scripts.UpdateItemArgs(
                uid=uid, action=p.action.name, value=sub.value, body=p.body,
                limit=p.action.rate_per_minute, period_ms=RATE_PERIOD_MS,
                use_idem=p.use_idem, writer=key_id, metadata=sub.metadata,
                nboards=len(boards)), [board_args(b) for b in boards]))
        head_args = scripts.UpdateArgs(idem_ttl_s=IDEMPOTENCY_TTL_S, max_total=keys.MAX_TOTAL,
                                       channel=keys.CHANNEL, top_n=keys.TOP_N, version=version)
        reply = await self._update(keys=scripts.with_updates(HEAD_KEYS, item_keys),
                                   args=scripts.with_updates(head_args, item_args))
        return scripts.parse_score_replies(reply, len(plans))


# a board's groups change only with its definition: built once per definition
@functools.lru_cache(maxsize=1024)
def board_keys(b: Board) -> scripts.UpdateBoardKeys:
    k = b.keys
    return scripts.UpdateBoardKeys(k.scores, k.member, k.boardseq, k.meta)


@functools.lru_cache(maxsize=1024)
def board_args(b: Board) -> scripts.UpdateBoardArgs:
    return scripts.UpdateBoardArgs(b.id, b.season, b.operator, b.order)
