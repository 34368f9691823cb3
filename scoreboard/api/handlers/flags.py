"""The review queue's routes (admin): flags, their resolution, a player's latest events."""

from __future__ import annotations

from aiohttp import web

from ... import errors
from ...appkeys import REVIEW
from ...board.reader import MAX_PAGE
from ...flags.review import STATUSES
from ...players.users import parse_user_id
from .. import envelope, requests, responses
from ..docs import BEARER, UUID_PARAM, body, fails, int_query, ok, operation
from . import reads
from .common import admin

FLAGS_PAGE = 20
CURSOR_PARAM = {"name": "cursor", "in": "query", "required": False,
                "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,18}$"}}
STATUS_PARAM = {"name": "status", "in": "query", "required": False,
                "schema": {"type": "string", "enum": list(STATUSES), "default": "open"}}


@operation(summary="Anomaly flags, newest first, paged (admin)", security=BEARER,
           parameters=[STATUS_PARAM, int_query("limit", 1, MAX_PAGE, FLAGS_PAGE),
                       CURSOR_PARAM],
           responses={**ok(responses.FlagList), **fails(400, 401, 403, 503)})
async def list_flags(request: web.Request) -> web.Response:
    await admin(request)
    status = request.query.get("status", "open")
    if status not in STATUSES:
        raise errors.ValidationFailed(fields={"status": [f"One of {', '.join(STATUSES)}."]})
    limit = reads.int_param(request, "limit", FLAGS_PAGE, 1, MAX_PAGE)
    cursor = reads.int_param(request, "cursor", 0, 1, 2**62) or None
    flags, more = await request.app[REVIEW].page(status, limit, cursor)
    return envelope.ok({"flags": flags, "next_cursor": more})


@operation(summary="Resolve a flag: dismiss it, or ban its player (admin; once: a second "
                   "resolve is 409)", security=BEARER, parameters=[UUID_PARAM],
           requestBody=body(requests.ResolveSchema),
           responses={**ok(responses.FlagData), **fails(400, 401, 403, 404, 409, 413, 415,
                                                        503)})
async def resolve_flag(request: web.Request) -> web.Response:
    claims = await admin(request)
    data = await requests.load(request, requests.ResolveSchema)
    flag = await request.app[REVIEW].resolve(claims.sub, request.match_info["id"],
                                             data["resolution"])
    return envelope.ok(flag)


@operation(summary="A player's latest events, newest first, with who wrote each (admin)",
           security=BEARER, parameters=[UUID_PARAM, int_query("limit", 1, MAX_PAGE, 50)],
           responses={**ok(responses.EventList), **fails(400, 401, 403, 404, 503)})
async def user_events(request: web.Request) -> web.Response:
    await admin(request)
    user_id = parse_user_id(request.match_info["id"])
    limit = reads.int_param(request, "limit", 50, 1, MAX_PAGE)
    return envelope.ok({"events": await request.app[REVIEW].events(user_id, limit)})
