"""What several views share: who is calling."""

from __future__ import annotations

from aiohttp import web

from ... import errors
from ...appkeys import KEYRING, SESSIONS, VERIFIER
from ...auth.tokens import Claims, bearer
from ...scoring.submission import Writer
from ...trust.keys import is_key


def claims_of(request: web.Request) -> Claims:
    """Claims of the request's bearer token; the session is not checked here. A server
    key is refused: it writes scores, nothing else."""
    token = bearer(request)
    if token is None:
        raise errors.Unauthorized()
    if is_key(token):
        request.app[KEYRING].known(token)  # a bad key is told so (401)
        raise errors.Forbidden("A server key only writes scores; this route takes a "
                               "player's or an admin's token")
    return request.app[VERIFIER].verify(token)


async def writer_of(request: web.Request) -> tuple[Writer, str]:
    """Who writes a score: a server key (its grant; the player is in the body) or a
    player's token (their session, and their id)."""
    token = bearer(request)
    if token is None:
        raise errors.Unauthorized()
    if is_key(token):
        return Writer.server(await request.app[KEYRING].verify(token)), ""
    claims = request.app[VERIFIER].verify(token)
    return Writer.player(claims), claims.sub


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
