"""Sessions: a token is live until it expires, is logged out or refreshed away
(its ``jti`` revoked), and while its player exists. Checked in Redis on every
request (inside the score script on the hot path, by ``SessionChecker`` elsewhere).
"""

from __future__ import annotations

import time

from .. import errors
from ..live.events import encode_revoke
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .tokens import LEEWAY_S, Claims

_PROBLEMS: dict[str, type[errors.ApiError]] = {
    "UNAUTHORIZED": errors.Unauthorized, "FORBIDDEN": errors.Forbidden,
}


class SessionChecker:
    """One round trip: is the session live, does the user exist, are they banned."""

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None = None) -> None:
        self._script = scripts.load("session", redis, pipe)

    async def problem(self, claims: Claims) -> type[errors.ApiError] | None:
        """None when all is well; else the error to answer (Unauthorized or Forbidden)."""
        reply = await self._script(
            keys=scripts.SessionKeys(revoked=keys.revoked_key(claims.jti),
                                     profiles=keys.PROFILES, banned=keys.BANNED),
            args=scripts.SessionArgs(uid=claims.sub))
        status = scripts.parse_status(reply)
        return None if status == "OK" else _PROBLEMS.get(status, errors.Unauthorized)


async def revoke(redis: RedisClient, claims: Claims) -> None:
    """End a session: its token is refused from now on, and its sockets close."""
    ttl_ms = max(1000, int((claims.exp + LEEWAY_S - time.time()) * 1000))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.revoked_key(claims.jti), 1, px=ttl_ms)
        pipe.publish(keys.CHANNEL, encode_revoke(jti=claims.jti))
        await pipe.execute()
