"""What several views share: who is calling."""

from __future__ import annotations

from aiohttp import web

from ... import errors
from ...appkeys import SESSIONS, VERIFIER
from ...auth.tokens import Claims, bearer


def claims_of(request: web.Request) -> Claims:
    """Claims of the request's bearer token; the session is not checked here."""
    token = bearer(request)
    if token is None:
        raise errors.Unauthorized()
    return request.app[VERIFIER].verify(token)


async def player(request: web.Request, *, allow_banned: bool = False,
                 claims: Claims | None = None) -> Claims:
    """Claims of a live session of an existing player."""
    claims = claims or claims_of(request)
    problem = await request.app[SESSIONS].problem(claims)
    if problem is not None and not (allow_banned and problem is errors.Forbidden):
        raise problem()
    return claims


async def admin(request: web.Request) -> Claims:
    claims = await player(request)
    if not claims.admin:
        raise errors.Forbidden("Admin role required")
    return claims
