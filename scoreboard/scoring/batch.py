"""Batch mode ("more availability"): one Lua call applies each update to every board it
feeds, appends its event to the stream for Worker 1, and announces changes of the top
10s. A batch of updates is the same one call."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..board.competition import rules
from ..board.definitions import Board
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .limits import IDEMPOTENCY_TTL_S, RATE_PERIOD_MS
from .submission import Plan, Writer

HEAD_KEYS = scripts.UpdateKeys(seq=keys.SEQ, events=keys.EVENTS, profiles=keys.PROFILES,
                               banned=keys.BANNED, version=keys.BOARDS_VERSION)


# updates merged into one update.lua call at most (a call holds Redis for its length)
MERGE_AT = 32


class BatchScorer:
    """Applies updates in update.lua calls. The updates that requests hand in during one
    turn of the event loop are merged into one call (up to MERGE_AT, by the definitions'
    version): the script's dispatch, the version check and TIME are paid once per call,
    not once per update. Each update is still checked and applied on its own, as if
    alone; a call that fails fails each of its updates (503: retry with the same key)."""

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None) -> None:
        self._update = scripts.load("update", redis, pipe, durable=True)
        self._queue: list[_Pending] = []

    async def apply(self, writer: Writer, plans: Sequence[Plan],
                    version: int) -> list[scripts.ScoreReply]:
        """Each plan applied on its own; one reply per plan, in order."""
        loop = asyncio.get_running_loop()
        pending = _Pending(writer, plans, version, loop.create_future())
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append(pending)
        return await pending.replies

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        call: list[_Pending] = []
        size = 0
        for pending in sorted(queue, key=lambda p: p.version):
            if call and (size + len(pending.plans) > MERGE_AT
                         or pending.version != call[0].version):
                _spawn(self._send(call))
                call, size = [], 0
            call.append(pending)
            size += len(pending.plans)
        if call:
            _spawn(self._send(call))

    async def _send(self, call: list[_Pending]) -> None:
        # KEYS and ARGV flat, as update.lua's per_update reads them (UpdateKeys, then per
        # plan its UpdateItemKeys and its boards' UpdateBoardKeys; ARGV likewise), built
        # in one pass: a call has up to MERGE_AT plans
        keys_out: list[object] = list(HEAD_KEYS)
        args_out: list[object] = list(scripts.UpdateArgs(
            IDEMPOTENCY_TTL_S, keys.MAX_TOTAL, keys.CHANNEL, keys.TOP_N, call[0].version))
        total = 0
        for pending in call:
            writer = pending.writer
            key_id = writer.key_id
            server_key = key_id or None
            for p in pending.plans:
                sub, boards, action = p.sub, p.boards, p.action
                uid = sub.user_id
                keys_out += scripts.UpdateItemKeys(
                    writer.revoked, keys.rate_key(uid, action.name),
                    keys.idem_key(uid, sub.idempotency_key, server_key))
                args_out += scripts.UpdateItemArgs(
                    uid, action.name, sub.value, p.body, action.rate_per_minute,
                    RATE_PERIOD_MS, p.use_idem, key_id, sub.metadata, len(boards))
                for b in boards:
                    keys_out += board_keys(b)
                    args_out += board_args(b)
            total += len(pending.plans)
        try:
            replies = scripts.parse_score_replies(
                await self._update(keys=keys_out, args=args_out), total)
        except BaseException as exc:
            for pending in call:
                if not pending.replies.done():
                    pending.replies.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for pending in call:
            n = len(pending.plans)
            if not pending.replies.done():  # its request may have gone
                pending.replies.set_result(replies[start:start + n])
            start += n


@dataclass(slots=True)
class _Pending:
    writer: Writer
    plans: Sequence[Plan]
    version: int
    replies: asyncio.Future[list[scripts.ScoreReply]]


_tasks: set[asyncio.Task[None]] = set()


def _spawn(coro: Any) -> None:
    """A merged call runs to its end whatever happens to the requests that joined it
    (a request that goes away does not take the others' updates with it)."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


# a board's groups change only with its definition: built once per definition
@functools.lru_cache(maxsize=1024)
def board_keys(b: Board) -> scripts.UpdateBoardKeys:
    k = b.keys
    return scripts.UpdateBoardKeys(k.scores, k.member, k.boardseq, k.meta)


@functools.lru_cache(maxsize=1024)
def board_args(b: Board) -> scripts.UpdateBoardArgs:
    return scripts.UpdateBoardArgs(b.id, b.season, b.operator, b.order, rules(b))
