"""Direct mode ("more consistency"): PostgreSQL commits first, then Redis shows the scores.

admit.lua checks and reserves (rate token, Idempotency-Key in progress, a tie
sequence); the commit writes the event and every board's score; settle.lua shows
the committed scores. If PostgreSQL fails, release.lua gives back what admit took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from redis.exceptions import RedisError

from .. import errors
from ..actions import Action
from ..board.competition import rules
from ..board.definitions import Board
from ..obs import metrics
from ..operators import OPERATORS
from ..persist.sql import BoardsMoved, Event, Fed, commit_direct
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from ..store.events import encode_bucket
from .limits import CLAIM_TTL_S, IDEMPOTENCY_TTL_S, RATE_PERIOD_MS
from .submission import Plan, Writer

log = logging.getLogger(__name__)


class DirectScorer:
    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None,
                 pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.redis = redis
        self._admit = scripts.load("admit", redis, pipe)
        self._settle = scripts.load("settle", redis, pipe, durable=True)
        self._release = scripts.load("release", redis, pipe)

    async def _give_back(self, rate: str, idem: str, action: Action, use_idem: str,
                         uid: str, counted: Sequence[Board] = ()) -> None:
        """What admit.lua took for an update that was not committed (``counted``: the
        boards it took an attempt on)."""
        with contextlib.suppress(RedisError):
            await self._release(
                keys=scripts.with_boards(
                    scripts.ReleaseKeys(rate=rate, idem=idem),
                    [scripts.ReleaseBoardKeys(keys.season_key(b.id, b.season, "attempts"))
                     for b in counted]),
                args=scripts.ReleaseArgs(limit=action.rate_per_minute,
                                         period_ms=RATE_PERIOD_MS, use_idem=use_idem, uid=uid))

    async def apply(self, writer: Writer, plans: Sequence[Plan],
                    version: int) -> list[scripts.ScoreReply]:
        """Each plan on its own: one player's in the order given, different players'
        at once (each is its own transaction)."""
        if len(plans) == 1:
            return [await self._apply_one(writer, plans[0], version)]
        replies: list[scripts.ScoreReply | None] = [None] * len(plans)
        by_player: dict[str, list[int]] = {}
        for i, plan in enumerate(plans):
            by_player.setdefault(plan.sub.user_id, []).append(i)

        async def in_order(indexes: list[int]) -> None:
            for i in indexes:
                replies[i] = await self._apply_one(writer, plans[i], version)

        await asyncio.gather(*(in_order(ix) for ix in by_player.values()))
        return [r for r in replies if r is not None]

    async def _apply_one(self, writer: Writer, plan: Plan,
                         version: int) -> scripts.ScoreReply:
        sub, action, boards, body = plan.sub, plan.action, plan.boards, plan.body
        uid, value, use_idem = sub.user_id, sub.value, plan.use_idem
        rate = keys.rate_key(uid, action.name)
        idem = keys.idem_key(uid, sub.idempotency_key, writer.key_id or None)
        admission = scripts.parse_admission(await self._admit(
            keys=scripts.with_boards(
                scripts.AdmitKeys(seq=keys.SEQ, profiles=keys.PROFILES, banned=keys.BANNED,
                                  revoked=writer.revoked, rate=rate, idem=idem,
                                  version=keys.BOARDS_VERSION),
                [scripts.AdmitBoardKeys(b.keys.scores, b.keys.member) for b in boards]),
            args=scripts.with_boards(
                scripts.AdmitArgs(uid=uid, writer=writer.key_id, value=value, body=body,
                                  limit=action.rate_per_minute, period_ms=RATE_PERIOD_MS,
                                  use_idem=use_idem, claim_ttl_s=CLAIM_TTL_S,
                                  max_total=keys.MAX_TOTAL, version=version),
                [scripts.AdmitBoardArgs(b.id, b.season, b.operator, b.order, rules(b))
                 for b in boards])))
        if admission.reply is not None:  # a refusal, STALE, or a replay of a settled key
            return admission.reply
        given, boards = boards, [b for b, g in zip(boards, admission.gates, strict=True)
                                 if g[0] == 0]  # the boards that take it (competitions)
        attempted = [b for b in boards if b.max_attempts is not None]
        fed = [Fed(b.id, b.season, b.operator, b.order) for b in boards]
        try:
            scores, fresh, counted = await commit_direct(
                self.pool, Event(uid, action.name, value, admission.seq, admission.now,
                                 sub.idempotency_key, writer.key_id or None,
                                 sub.metadata or None), fed)
        except BoardsMoved:  # a board was retired under the caller: reload, try again
            await self._give_back(rate, idem, action, use_idem, uid, attempted)
            return scripts.ScoreReply("STALE")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            metrics.BACKEND_ERRORS.labels("postgres").inc()
            log.warning("direct commit failed: %s", exc.__class__.__name__)
            await self._give_back(rate, idem, action, use_idem, uid, attempted)
            raise errors.ServiceUnavailable("Score database unavailable; nothing was counted, "
                                            "retry later") from None
        # a season that ended meanwhile: the commit counted in the next one, shown there
        boards = [b if b.season == f.season else b.with_changes(season=f.season)
                  for b, f in zip(boards, counted, strict=True)]
        reply = scripts.parse_score_reply(await self._settle(
            keys=scripts.with_boards(
                scripts.SettleKeys(idem=idem),
                [scripts.UpdateBoardKeys(b.keys.scores, b.keys.member, b.keys.boardseq,
                                         b.keys.meta) for b in boards]),
            args=scripts.with_boards(
                scripts.SettleArgs(uid=uid, use_idem=use_idem, idem_ttl_s=IDEMPOTENCY_TTL_S,
                                   channel=keys.CHANNEL, top_n=keys.TOP_N, now=admission.now,
                                   body=body, metadata=sub.metadata, seq=admission.seq),
                [scripts.SettleBoardArgs(b.id, b.season, b.operator, b.order, score, reached)
                 for b, (score, reached) in zip(boards, scores, strict=True)])))
        # on adding boards the previous score is the committed one less this increment
        # (Redis may not have shown an earlier commit yet)
        shown = iter(
            scripts.BoardResult(r.new_score - value, r.new_score, r.previous_rank, r.rank,
                                r.board_seq) if OPERATORS[b.operator].adds else r
            for b, r in zip(boards, reply.boards, strict=True))
        results = []
        for b, (gate, left, bucket) in zip(given, admission.gates, strict=True):
            if gate:
                results.append(scripts.BoardResult(0, 0, None, 0, 0, gate))
                continue
            result = next(shown)
            result.attempts_left = left
            results.append(result)
            if bucket:  # its watchers get the bucket's standings
                with contextlib.suppress(RedisError):
                    await self.redis.publish(keys.CHANNEL,
                                             encode_bucket(b.id, b.season, bucket))
        return scripts.ScoreReply("OK" if fresh else "REPLAY", reply.now, tuple(results))
