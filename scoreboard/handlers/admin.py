from __future__ import annotations

from aiohttp import web

from .. import envelope, keys, moderation, schemas
from ..users import parse_user_id
from .common import admin


async def create_user(request: web.Request) -> web.Response:
    claims = await admin(request)
    data = await schemas.load(request, schemas.CreateUserSchema)
    user = await moderation.create_player(request.app[keys.PG], request.app[keys.REDIS],
                                          claims.sub, data)
    return envelope.ok(user, status=201)


async def _set_banned(request: web.Request, banned: bool) -> web.Response:
    claims = await admin(request)
    await schemas.load(request, schemas.EmptySchema, allow_empty=True)
    user_id = parse_user_id(request.match_info["id"])
    result = await moderation.set_banned(request.app[keys.PG], request.app[keys.REDIS],
                                         claims.sub, user_id, banned)
    return envelope.ok(result)


async def ban(request: web.Request) -> web.Response:
    return await _set_banned(request, True)


async def unban(request: web.Request) -> web.Response:
    return await _set_banned(request, False)
