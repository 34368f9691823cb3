from __future__ import annotations

from aiohttp import hdrs, web

from ... import errors
from ...appkeys import READER, TOP10
from ...board.reader import MAX_PAGE, MAX_WINDOW, Ranking
from ...board.top10 import CachedTop10, top10_body
from ...players.users import parse_user_id
from .. import envelope, responses
from ..docs import BEARER, UUID_PARAM, fails, int_query, ok, operation
from .common import player


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() also takes superscripts (int() refuses them) and
    # other scripts' digits (int() reads them)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not lo <= int(raw) <= hi:
        raise errors.ValidationFailed(fields={name: [f"Must be an integer from {lo} to {hi}."]})
    return int(raw)


def not_modified(header: str | None, etag: str) -> bool:
    """``If-None-Match`` by weak comparison (RFC 9110 13.1.2): a list, ``*``, either form."""
    if header is None:
        return False
    if header == etag:  # what a client sends back
        return True
    opaque = etag.removeprefix("W/")
    return any(t == "*" or t.removeprefix("W/") == opaque
               for t in (part.strip() for part in header.split(",")))


def top10_now(request: web.Request) -> web.Response | None:
    """The top 10 from this process's memo, or None when it has none fresh."""
    cached = request.app[TOP10].memo.get()
    return None if cached is None else top10_response(request, cached)


@operation(summary="The cached top 10", parameters=[],
           responses={**ok(responses.Top10Data), "304": {"description": "Not modified"},
                      **fails(503)})
async def top10(request: web.Request) -> web.Response:
    top10 = request.app[TOP10]
    return top10_response(request, top10.memo.get() or await top10.current())


def top10_response(request: web.Request, cached: CachedTop10, more: bytes = b"") -> web.Response:
    """A cached body; ``more`` (``,"name":value...``) is added to its data object."""
    given = request.headers.get(hdrs.IF_NONE_MATCH)
    if given is not None and not_modified(given, cached.etag):
        return web.Response(status=304, headers=cached.headers)
    return web.Response(body=top10_body(cached.data, more, envelope.now_ms()),
                        headers=cached.json_headers)


@operation(summary="Any page of the board",
           parameters=[int_query("offset", 0, 10**9, 0), int_query("limit", 1, 100, 10)],
           responses={**ok(responses.PageData), **fails(400, 503)})
async def page(request: web.Request) -> web.Response:
    return await page_response(request, request.app[READER])


async def page_response(request: web.Request, reader: Ranking) -> web.Response:
    offset = int_param(request, "offset", 0, 0, 10**9)
    limit = int_param(request, "limit", 10, 1, MAX_PAGE)
    part = await reader.page(offset, limit)
    return envelope.ok({"leaderboard": part.entries, "total": part.total,
                        "offset": offset, "limit": limit})


@operation(summary="The caller's rank and neighbours", security=BEARER,
           parameters=[int_query("window", 0, 50, 5)],
           responses={**ok(responses.MeData), **fails(400, 401, 403, 404, 503)})
async def me(request: web.Request) -> web.Response:
    return await me_response(request, request.app[READER])


async def me_response(request: web.Request, reader: Ranking) -> web.Response:
    claims = await player(request)
    window = int_param(request, "window", 5, 0, MAX_WINDOW)
    part = await reader.around(claims.sub, window)
    if part.self_rank is None:
        raise errors.NotFound("You have no score yet")
    mine = next(e for e in part.entries if e["user_id"] == claims.sub)
    return envelope.ok({"user_id": claims.sub, "username": mine["username"],
                        "score": part.self_score, "rank": part.self_rank,
                        "around": part.entries, "total": part.total})


@operation(summary="One player's rank", parameters=[UUID_PARAM],
           responses={**ok(responses.RankData), **fails(400, 404, 503)})
async def user_rank(request: web.Request) -> web.Response:
    return await rank_response(request, request.app[READER])


async def rank_response(request: web.Request, reader: Ranking) -> web.Response:
    user_id = parse_user_id(request.match_info["id"])
    part = await reader.around(user_id, 0)
    if part.self_rank is None:
        raise errors.NotFound("That player is not ranked")
    entry = part.entries[0]
    return envelope.ok({"user_id": user_id, "username": entry["username"],
                        "score": entry["score"], "rank": entry["rank"]})

