from __future__ import annotations

from aiohttp import web
from redis.exceptions import RedisError

from .. import auth, envelope, errors, keys, schemas
from .common import player


async def refresh(request: web.Request) -> web.Response:
    claims = await player(request)
    await schemas.load(request, schemas.EmptySchema, allow_empty=True)
    config = request.app[keys.CONFIG]
    token = auth.mint(config, claims.sub, admin=claims.admin)
    try:
        await auth.revoke(request.app[keys.REDIS], claims)
    except RedisError:
        raise errors.ServiceUnavailable() from None
    return envelope.ok({"token": token, "expires_in": config.jwt_ttl_s})


async def logout(request: web.Request) -> web.Response:
    claims = await player(request, allow_banned=True)
    await schemas.load(request, schemas.EmptySchema, allow_empty=True)
    try:
        await auth.revoke(request.app[keys.REDIS], claims)
    except RedisError:
        raise errors.ServiceUnavailable() from None
    return envelope.ok({"logged_out": True})
