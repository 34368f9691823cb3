"""Batch mode ("more availability"): one Lua call applies the increment, appends the
event to the stream for Worker 1, and announces a change of the top 10."""

from __future__ import annotations

from ..auth.tokens import Claims
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .actions import Action
from .limits import IDEMPOTENCY_TTL_S, RATE_PERIOD_MS


class BatchScorer:
    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None) -> None:
        self._update = scripts.load("update", redis, pipe)

    async def apply(self, claims: Claims, action: Action, increment: int,
                    idempotency_key: str | None) -> scripts.ScoreReply:
        uid = claims.sub
        reply = await self._update(
            keys=scripts.UpdateKeys(
                scores=keys.SCORES, member=keys.MEMBER, seq=keys.SEQ, boardseq=keys.BOARDSEQ,
                events=keys.EVENTS, profiles=keys.PROFILES, banned=keys.BANNED,
                revoked=keys.revoked_key(claims.jti), rate=keys.rate_key(uid, action.name),
                idem=keys.idem_key(uid, idempotency_key)),
            args=scripts.UpdateArgs(
                uid=uid, action=action.name, increment=increment,
                body=f"{action.name}:{increment}", limit=action.rate_per_minute,
                period_ms=RATE_PERIOD_MS, use_idem="1" if idempotency_key else "0",
                idem_ttl_s=IDEMPOTENCY_TTL_S, max_total=keys.MAX_TOTAL, channel=keys.CHANNEL,
                top_n=keys.TOP_N))
        return scripts.parse_score_reply(reply)
