"""Batch mode ("more availability"): one Lua call applies each update to every board it
feeds, appends its event to the stream for Worker 1, and announces changes of the top
10s. A batch of updates is the same one call."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ..board.competition import rules
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
        # KEYS and ARGV flat, as update.lua's per_update reads them (UpdateKeys, then per
        # plan its UpdateItemKeys and its boards' UpdateBoardKeys; ARGV likewise), built
        # in one pass: a batch has a hundred plans
        keys_out: list[object] = list(HEAD_KEYS)
        args_out: list[object] = list(scripts.UpdateArgs(
            IDEMPOTENCY_TTL_S, keys.MAX_TOTAL, keys.CHANNEL, keys.TOP_N, version))
        for p in plans:
            sub, boards, action = p.sub, p.boards, p.action
            uid = sub.user_id
            keys_out += scripts.UpdateItemKeys(
                writer.revoked, keys.rate_key(uid, action.name),
                keys.idem_key(uid, sub.idempotency_key, server_key))
            args_out += scripts.UpdateItemArgs(
                uid, action.name, sub.value, p.body, action.rate_per_minute, RATE_PERIOD_MS,
                p.use_idem, key_id, sub.metadata, len(boards))
            for b in boards:
                keys_out += board_keys(b)
                args_out += board_args(b)
        reply = await self._update(keys=keys_out, args=args_out)
        return scripts.parse_score_replies(reply, len(plans))


# a board's groups change only with its definition: built once per definition
@functools.lru_cache(maxsize=1024)
def board_keys(b: Board) -> scripts.UpdateBoardKeys:
    k = b.keys
    return scripts.UpdateBoardKeys(k.scores, k.member, k.boardseq, k.meta)


@functools.lru_cache(maxsize=1024)
def board_args(b: Board) -> scripts.UpdateBoardArgs:
    return scripts.UpdateBoardArgs(b.id, b.season, b.operator, b.order, rules(b))
