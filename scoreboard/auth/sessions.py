"""Sessions: a token is live until it expires, is logged out or refreshed away
(its ``jti`` revoked), and while its player exists. Checked in Redis on every
request (inside the score script on the hot path, by ``SessionChecker`` elsewhere).
"""

from __future__ import annotations

import time

from .. import errors
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from ..store.events import encode_revoke
from .tokens import LEEWAY_S, Claims

REFRESH_RATE_PER_MINUTE = 10  # refreshes per player: each leaves a revocation and a broadcast
REFRESH_PERIOD_MS = 60_000

_PROBLEMS: dict[str, type[errors.ApiError]] = {
    "UNAUTHORIZED": errors.Unauthorized, "FORBIDDEN": errors.Forbidden,
}


class SessionChecker:
    """One round trip: is the session live, does the user exist, are they banned."""

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None = None) -> None:
        self._script = scripts.load("session", redis, pipe)
        self._refresh = scripts.load("refresh", redis, pipe)

    async def problem(self, claims: Claims) -> type[errors.ApiError] | None:
        """None when all is well; else the error to answer (Unauthorized or Forbidden)."""
        reply = await self._script(
            keys=scripts.SessionKeys(revoked=keys.revoked_key(claims.jti),
                                     profiles=keys.PROFILES, banned=keys.BANNED),
            args=scripts.SessionArgs(uid=claims.sub))
        status = scripts.parse_status(reply)
        return None if status == "OK" else _PROBLEMS.get(status, errors.Unauthorized)

    async def end_for_refresh(self, claims: Claims) -> None:
        """End a live session so that a fresh token may replace it: of concurrent refreshes
        of one session exactly one gets here without an error."""
        reply = await self._refresh(
            keys=scripts.RefreshKeys(revoked=keys.revoked_key(claims.jti), profiles=keys.PROFILES,
                                     banned=keys.BANNED, rate=keys.refresh_rate_key(claims.sub)),
            args=scripts.RefreshArgs(uid=claims.sub, jti=claims.jti, ttl_ms=_revocation_ms(claims),
                                     limit=REFRESH_RATE_PER_MINUTE, period_ms=REFRESH_PERIOD_MS,
                                     channel=keys.CHANNEL))
        verdict = scripts.parse_score_reply(reply)  # the score scripts' refusal shapes
        if verdict.status == "RATE_LIMITED":
            raise errors.rate_limited("Too many refreshes", verdict.wait_ms)
        if verdict.status != "OK":
            raise _PROBLEMS.get(verdict.status, errors.Unauthorized)()


def _revocation_ms(claims: Claims) -> int:
    """How long a revocation is kept: until the token would have expired anyway."""
    return max(1000, int((claims.exp + LEEWAY_S - time.time()) * 1000))


async def revoke(redis: RedisClient, claims: Claims) -> None:
    """End a session: its token is refused from now on, and its sockets close.

    One atomic step (SET NX on the session's revocation, as refresh.lua's): when a
    logout and a refresh of the same token race, only the first ends the session and
    the other is refused (401), so a refreshed token never outlives its logout."""
    ended = await redis.set(keys.revoked_key(claims.jti), 1, px=_revocation_ms(claims), nx=True)
    if not ended:
        raise errors.Unauthorized("The session has already ended")
    await redis.publish(keys.CHANNEL, encode_revoke(jti=claims.jti))
