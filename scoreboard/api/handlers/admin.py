"""Thin views: parse, call one service function, answer with the envelope."""
from __future__ import annotations

from aiohttp import web

from ...appkeys import BOARD_ADMIN, CONFIG, KEY_ADMIN, MODERATION, SEASONS
from ...players.users import parse_user_id
from .. import envelope, requests, responses
from ..docs import BEARER, UUID_PARAM, body, fails, ok, operation
from .boards import BOARD_PARAM
from .common import admin


@operation(summary="Create a player (admin)", security=BEARER,
           requestBody=body(requests.CreateUserSchema),
           responses={**ok(responses.UserData, 201), **fails(400, 401, 403, 409, 413, 415, 503)})
async def create_user(request: web.Request) -> web.Response:
    claims = await admin(request)
    data = await requests.load(request, requests.CreateUserSchema)
    user = await request.app[MODERATION].create_player(claims.sub, data)
    return envelope.ok(user, status=201)


async def _set_banned(request: web.Request, banned: bool) -> web.Response:
    claims = await admin(request)
    await requests.load(request, requests.EmptySchema, allow_empty=True)
    user_id = parse_user_id(request.match_info["id"])
    result = await request.app[MODERATION].set_banned(claims.sub, user_id, banned)
    return envelope.ok(result)


@operation(summary="Hide a player from every ranking and refuse their updates (admin; "
                   "not oneself: 409)",
           security=BEARER, parameters=[UUID_PARAM],
           requestBody=body(requests.EmptySchema, required=False),
           responses={**ok(responses.BanData), **fails(400, 401, 403, 404, 409, 413, 415, 503)})
async def ban(request: web.Request) -> web.Response:
    return await _set_banned(request, True)


@operation(summary="Restore a banned player (admin)", security=BEARER,
           parameters=[UUID_PARAM], requestBody=body(requests.EmptySchema, required=False),
           responses={**ok(responses.BanData), **fails(400, 401, 403, 404, 413, 415, 503)})
async def unban(request: web.Request) -> web.Response:
    return await _set_banned(request, False)


@operation(summary="Create a board (admin)", security=BEARER,
           requestBody=body(requests.BoardSchema),
           responses={**ok(responses.BoardDefinition, 201),
                      **fails(400, 401, 403, 409, 413, 415, 503)})
async def create_board(request: web.Request) -> web.Response:
    claims = await admin(request)
    data = await requests.load(request, requests.BoardSchema)
    board = await request.app[BOARD_ADMIN].create(claims.sub, data)
    return envelope.ok(board.public(request.app[CONFIG].actions), status=201)


@operation(summary="Change a board's title, actions, schedule, zone; its order and operator "
                   "while it has no scores (admin)", security=BEARER,
           parameters=[BOARD_PARAM], requestBody=body(requests.BoardPatchSchema),
           responses={**ok(responses.BoardDefinition),
                      **fails(400, 401, 403, 404, 409, 413, 415, 503)})
async def change_board(request: web.Request) -> web.Response:
    claims = await admin(request)
    data = await requests.load(request, requests.BoardPatchSchema)
    board = await request.app[BOARD_ADMIN].change(claims.sub, request.match_info["board"], data)
    return envelope.ok(board.public(request.app[CONFIG].actions))


@operation(summary="Retire a board: out of the lists, refuses scores, history kept (admin)",
           security=BEARER, parameters=[BOARD_PARAM],
           responses={**ok(responses.BoardDefinition), **fails(401, 403, 404, 409, 503)})
async def retire_board(request: web.Request) -> web.Response:
    claims = await admin(request)
    board = await request.app[BOARD_ADMIN].retire(claims.sub, request.match_info["board"])
    return envelope.ok(board.public(request.app[CONFIG].actions))


@operation(summary="End a board's season now (admin)", security=BEARER,
           parameters=[BOARD_PARAM],
           responses={**ok(responses.BoardDefinition), **fails(401, 403, 404, 409, 503)})
async def reset_board(request: web.Request) -> web.Response:
    claims = await admin(request)
    board = await request.app[SEASONS].reset(request.match_info["board"], actor_id=claims.sub)
    return envelope.ok(board.public(request.app[CONFIG].actions))


@operation(summary="Create a server key for a game server (admin); its secret is in this "
                   "answer only", security=BEARER,
           requestBody=body(requests.ServerKeySchema),
           responses={**ok(responses.NewServerKeyData, 201),
                      **fails(400, 401, 403, 409, 413, 415, 503)})
async def create_key(request: web.Request) -> web.Response:
    claims = await admin(request)
    data = await requests.load(request, requests.ServerKeySchema)
    key = await request.app[KEY_ADMIN].create(claims.sub, data["name"], data["actions"])
    return envelope.ok(key, status=201)


@operation(summary="Every server key, revoked ones too; never a secret (admin)",
           security=BEARER, responses={**ok(responses.ServerKeyList), **fails(401, 403, 503)})
async def list_keys(request: web.Request) -> web.Response:
    await admin(request)
    return envelope.ok({"keys": await request.app[KEY_ADMIN].list()})


@operation(summary="Revoke a server key: every process refuses it within a second (admin)",
           security=BEARER, parameters=[UUID_PARAM],
           responses={**ok(responses.ServerKeyData), **fails(401, 403, 404, 503)})
async def revoke_key(request: web.Request) -> web.Response:
    claims = await admin(request)
    return envelope.ok(await request.app[KEY_ADMIN].revoke(claims.sub,
                                                           request.match_info["id"]))
