"""The score update: one Lua script (one round trip) per accepted increment."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from redis.exceptions import RedisError

from . import errors, metrics, store
from .auth import Claims
from .autopipe import AutoPipeline, script
from .config import Config
from .persist import commit_direct

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL_S = 24 * 3600
MAX_IDEMPOTENCY_KEY = 128
RATE_PERIOD_MS = 60_000
CLAIM_TTL_S = 300  # direct mode: how long a key stays "in progress" if its process dies


@dataclass(frozen=True, slots=True)
class Outcome:
    user_id: str
    previous_score: int
    new_score: int
    previous_rank: int | None
    current_rank: int
    timestamp: int
    board_seq: int
    replay: bool

    def as_data(self) -> dict[str, Any]:
        prev = self.previous_rank
        return {
            "user_id": self.user_id,
            "previous_score": self.previous_score,
            "new_score": self.new_score,
            "rank_change": 0 if prev is None else prev - self.current_rank,
            "current_rank": self.current_rank,
            "previous_rank": prev,
        }


def _refusal(reply: list[Any], action: str) -> errors.ApiError:
    status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    if status == "UNAUTHORIZED":
        return errors.Unauthorized()
    if status == "FORBIDDEN":
        return errors.Forbidden("This player may not post scores")
    if status == "RATE_LIMITED":
        wait_s = max(1, -(-int(reply[1]) // 1000))
        return errors.RateLimited(
            f"Rate limit for {action!r} reached; retry in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    if status == "SCORE_LIMIT_EXCEEDED":
        return errors.ScoreLimitExceeded(f"Total would exceed {store.MAX_TOTAL}")
    if status == "IDEMPOTENCY_KEY_REUSED":
        return errors.IdempotencyKeyReused()
    if status == "IDEMPOTENCY_IN_PROGRESS":
        return errors.InProgress()
    return errors.ApiError()


def _outcome(user_id: str, reply: list[Any]) -> Outcome:
    prev_rank = int(reply[3])
    return Outcome(
        user_id=user_id,
        previous_score=int(reply[1]),
        new_score=int(reply[2]),
        previous_rank=None if prev_rank < 0 else prev_rank,
        current_rank=int(reply[4]),
        timestamp=int(reply[5]),
        board_seq=int(reply[6]),
        replay=(reply[0] in (b"REPLAY", "REPLAY")),
    )


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise errors.ValidationFailed(
            fields={"Idempotency-Key": [f"Must be 1-{MAX_IDEMPOTENCY_KEY} printable characters."]}
        )
    return key


class ScoreService:
    def __init__(self, config: Config, redis: Any, pool: asyncpg.Pool,
                 pipe: AutoPipeline | None = None) -> None:
        self.config = config
        self.redis = redis
        self.pool = pool
        self._update = script(redis, pipe, store.lua_source("update"))
        self._admit = script(redis, pipe, store.lua_source("admit"))
        self._release = script(redis, pipe, store.lua_source("release"))
        self._settle = script(redis, pipe, store.lua_source("settle"))

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
        if self.config.persist_mode == "direct":
            return await self._update_direct(claims, action_type, increment, idempotency_key)
        action = self.config.actions[action_type]
        uid = claims.sub
        keys = [
            store.SCORES, store.MEMBER, store.SEQ, store.BOARDSEQ, store.EVENTS,
            store.PROFILES, store.BANNED, store.revoked_key(claims.jti),
            store.rate_key(uid, action_type), store.idem_key(uid, idempotency_key),
        ]
        args = [
            uid, action_type, increment, f"{action_type}:{increment}",
            action.rate_per_minute, RATE_PERIOD_MS, "1" if idempotency_key else "0",
            IDEMPOTENCY_TTL_S, store.MAX_TOTAL, store.CHANNEL, store.TOP_N,
        ]
        reply = await _redis(self._update, keys, args)
        if reply[0] not in (b"OK", b"REPLAY", "OK", "REPLAY"):
            raise _refusal(reply, action_type)
        return _outcome(uid, reply)

    async def _update_direct(self, claims: Claims, action_type: str, increment: int,
                             idempotency_key: str | None) -> Outcome:
        """"More consistency": PostgreSQL commits first, then Redis shows the total."""
        action = self.config.actions[action_type]
        uid, body = claims.sub, f"{action_type}:{increment}"
        use_idem = "1" if idempotency_key else "0"
        rate, idem = store.rate_key(uid, action_type), store.idem_key(uid, idempotency_key)
        reply = await _redis(self._admit, [
            store.SCORES, store.MEMBER, store.SEQ, store.PROFILES, store.BANNED,
            store.revoked_key(claims.jti), rate, idem,
        ], [uid, increment, body, action.rate_per_minute, RATE_PERIOD_MS, use_idem,
            CLAIM_TTL_S, store.MAX_TOTAL])
        if reply[0] in (b"REPLAY", "REPLAY"):
            return _outcome(uid, reply)
        if reply[0] not in (b"OK", "OK"):
            raise _refusal(reply, action_type)
        seq, now = int(reply[1]), int(reply[2])
        try:
            total, fresh = await commit_direct(self.pool, uid, action_type, increment, seq, now,
                                               idempotency_key)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            metrics.BACKEND_ERRORS.labels("postgres").inc()
            log.warning("direct commit failed: %s", exc.__class__.__name__)
            with contextlib.suppress(RedisError):
                await self._release(keys=[rate, idem],
                                    args=[action.rate_per_minute, RATE_PERIOD_MS, use_idem])
            raise errors.ServiceUnavailable("Score database unavailable; nothing was counted, "
                                            "retry later") from None
        reply = await _redis(self._settle, [store.SCORES, store.MEMBER, store.BOARDSEQ, idem], [
            uid, total, seq, use_idem, IDEMPOTENCY_TTL_S, store.CHANNEL, store.TOP_N, now, body,
        ])
        outcome = _outcome(uid, reply)
        return replace(outcome, previous_score=total - increment, replay=not fresh)


async def _redis(script: Any, keys: list[Any], args: list[Any]) -> Any:
    try:
        return await script(keys=keys, args=args)
    except RedisError as exc:
        metrics.BACKEND_ERRORS.labels("redis").inc()
        log.warning("score update failed on Redis: %s", exc.__class__.__name__)
        raise errors.ServiceUnavailable("Score store unavailable; retry with the same "
                                        "Idempotency-Key") from None
