from __future__ import annotations

from aiohttp import web

from ...appkeys import CONFIG, REDIS, SESSIONS
from ...auth import sessions, tokens
from .. import envelope, requests, responses
from ..docs import BEARER, body, fails, ok, operation
from .common import claims_of, player


@operation(summary="A fresh token; the old session ends", security=BEARER,
           requestBody=body(requests.EmptySchema, required=False),
           responses={**ok(responses.TokenData), **fails(400, 401, 403, 413, 415, 429, 503)})
async def refresh(request: web.Request) -> web.Response:
    claims = claims_of(request)
    await requests.load(request, requests.EmptySchema, allow_empty=True)
    await request.app[SESSIONS].end_for_refresh(claims)  # one winner per session
    config = request.app[CONFIG]
    token = tokens.mint(config, claims.sub, admin=claims.admin)
    return envelope.ok({"token": token, "expires_in": config.jwt_ttl_s})


@operation(summary="End the session", security=BEARER,
           requestBody=body(requests.EmptySchema, required=False),
           responses={**ok(responses.LoggedOutData), **fails(400, 401, 413, 415, 503)})
async def logout(request: web.Request) -> web.Response:
    claims = await player(request, allow_banned=True)
    await requests.load(request, requests.EmptySchema, allow_empty=True)
    await sessions.revoke(request.app[REDIS], claims)
    return envelope.ok({"logged_out": True})
