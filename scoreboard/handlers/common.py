"""What several views share: who is calling."""

from __future__ import annotations

from aiohttp import web
from redis.exceptions import RedisError

from .. import auth, errors, keys


def claims_of(request: web.Request) -> auth.Claims:
    """Claims of the request's bearer token; the session is not checked here."""
    token = auth.bearer(request)
    if token is None:
        raise errors.Unauthorized()
    return request.app[keys.VERIFIER].verify(token)


async def player(request: web.Request, *, allow_banned: bool = False,
                 claims: auth.Claims | None = None) -> auth.Claims:
    """Claims of a live session of an existing player."""
    claims = claims or claims_of(request)
    try:
        problem = await request.app[keys.SESSIONS].problem(claims)
    except RedisError:
        raise errors.ServiceUnavailable() from None
    if problem == "UNAUTHORIZED" or (problem == "FORBIDDEN" and not allow_banned):
        raise errors.Unauthorized() if problem == "UNAUTHORIZED" else errors.Forbidden()
    return claims


async def admin(request: web.Request) -> auth.Claims:
    claims = await player(request)
    if not claims.admin:
        raise errors.Forbidden("Admin role required")
    return claims
