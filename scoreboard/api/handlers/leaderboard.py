"""The seed's paths: `global`'s reads in the seed's shapes, each the board handler's
(``boards.py``) for `global`; here for their own OpenAPI entries."""

from __future__ import annotations

from aiohttp import web

from .. import responses
from ..docs import BEARER, UUID_PARAM, fails, int_query, ok, operation
from . import boards

top10_now = boards.top10_now


@operation(summary="The cached top 10", parameters=[],
           responses={**ok(responses.Top10Data), "304": {"description": "Not modified"},
                      **fails(503)})
async def top10(request: web.Request) -> web.Response:
    return await boards.top10(request)


@operation(summary="Any page of the board",
           parameters=[int_query("offset", 0, 10**9, 0), int_query("limit", 1, 100, 10)],
           responses={**ok(responses.PageData), **fails(400, 503)})
async def page(request: web.Request) -> web.Response:
    return await boards.page(request)


@operation(summary="The caller's rank and neighbours", security=BEARER,
           parameters=[int_query("window", 0, 50, 5)],
           responses={**ok(responses.MeData), **fails(400, 401, 403, 404, 503)})
async def me(request: web.Request) -> web.Response:
    return await boards.me(request)


@operation(summary="One player's rank", parameters=[UUID_PARAM],
           responses={**ok(responses.RankData), **fails(400, 404, 503)})
async def user_rank(request: web.Request) -> web.Response:
    return await boards.user_rank(request)
