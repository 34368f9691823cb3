"""Direct mode ("more consistency"): PostgreSQL commits first, then Redis shows the total.

admit.lua checks and reserves (rate token, Idempotency-Key in progress, a tie
sequence); the commit writes the event and the total; settle.lua shows the
committed total. If PostgreSQL fails, release.lua gives back what admit took.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

import asyncpg
from redis.exceptions import RedisError

from .. import errors
from ..auth.tokens import Claims
from ..obs import metrics
from ..persist.sql import commit_direct
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .actions import Action
from .limits import CLAIM_TTL_S, IDEMPOTENCY_TTL_S, RATE_PERIOD_MS

log = logging.getLogger(__name__)


class DirectScorer:
    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None,
                 pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._admit = scripts.load("admit", redis, pipe)
        self._settle = scripts.load("settle", redis, pipe)
        self._release = scripts.load("release", redis, pipe)

    async def apply(self, claims: Claims, action: Action, increment: int,
                    idempotency_key: str | None) -> scripts.ScoreReply:
        uid, body = claims.sub, f"{action.name}:{increment}"
        use_idem = "1" if idempotency_key else "0"
        rate, idem = keys.rate_key(uid, action.name), keys.idem_key(uid, idempotency_key)
        admission = scripts.parse_admission(await self._admit(
            keys=scripts.AdmitKeys(
                scores=keys.SCORES, member=keys.MEMBER, seq=keys.SEQ, profiles=keys.PROFILES,
                banned=keys.BANNED, revoked=keys.revoked_key(claims.jti), rate=rate, idem=idem),
            args=scripts.AdmitArgs(
                uid=uid, increment=increment, body=body, limit=action.rate_per_minute,
                period_ms=RATE_PERIOD_MS, use_idem=use_idem, claim_ttl_s=CLAIM_TTL_S,
                max_total=keys.MAX_TOTAL)))
        if admission.reply is not None:  # a refusal, or a replay of a settled key
            return admission.reply
        try:
            total, fresh = await commit_direct(self.pool, uid, action.name, increment,
                                               admission.seq, admission.now, idempotency_key)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            metrics.BACKEND_ERRORS.labels("postgres").inc()
            log.warning("direct commit failed: %s", exc.__class__.__name__)
            with contextlib.suppress(RedisError):
                await self._release(
                    keys=scripts.ReleaseKeys(rate=rate, idem=idem),
                    args=scripts.ReleaseArgs(limit=action.rate_per_minute,
                                             period_ms=RATE_PERIOD_MS, use_idem=use_idem))
            raise errors.ServiceUnavailable("Score database unavailable; nothing was counted, "
                                            "retry later") from None
        reply = scripts.parse_score_reply(await self._settle(
            keys=scripts.SettleKeys(scores=keys.SCORES, member=keys.MEMBER,
                                    boardseq=keys.BOARDSEQ, idem=idem),
            args=scripts.SettleArgs(
                uid=uid, total=total, seq=admission.seq, use_idem=use_idem,
                idem_ttl_s=IDEMPOTENCY_TTL_S, channel=keys.CHANNEL, top_n=keys.TOP_N,
                now=admission.now, body=body)))
        return replace(reply, previous_score=total - increment,
                       status="OK" if fresh else "REPLAY")
