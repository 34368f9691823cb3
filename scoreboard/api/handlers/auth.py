from __future__ import annotations

from aiohttp import web
from redis.exceptions import RedisError

from ... import errors
from ...appkeys import CONFIG, REDIS
from ...auth import sessions, tokens
from .. import envelope, requests
from .common import player


async def refresh(request: web.Request) -> web.Response:
    claims = await player(request)
    await requests.load(request, requests.EmptySchema, allow_empty=True)
    config = request.app[CONFIG]
    token = tokens.mint(config, claims.sub, admin=claims.admin)
    try:
        await sessions.revoke(request.app[REDIS], claims)
    except RedisError:
        raise errors.ServiceUnavailable() from None
    return envelope.ok({"token": token, "expires_in": config.jwt_ttl_s})


async def logout(request: web.Request) -> web.Response:
    claims = await player(request, allow_banned=True)
    await requests.load(request, requests.EmptySchema, allow_empty=True)
    try:
        await sessions.revoke(request.app[REDIS], claims)
    except RedisError:
        raise errors.ServiceUnavailable() from None
    return envelope.ok({"logged_out": True})
