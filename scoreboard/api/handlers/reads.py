"""The read responses every board shares, `global` (the seed's paths) included: query
integers, a top 10 from its cache (with ``If-None-Match``), a page, a player's place."""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from ... import errors
from ...board.reader import MAX_PAGE, MAX_WINDOW, Ranking
from ...board.top10 import CachedTop10, top10_body
from ...players.users import parse_user_id
from .. import envelope
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


def top10_response(request: web.Request, cached: CachedTop10, more: bytes = b"") -> web.Response:
    """A cached body; ``more`` (``,"name":value...``) is added to its data object."""
    given = request.headers.get(hdrs.IF_NONE_MATCH)
    if given is not None and not_modified(given, cached.etag):
        return web.Response(status=304, headers=cached.headers)
    return web.Response(body=top10_body(cached.data, more, envelope.now_ms()),
                        headers=cached.json_headers)


async def page_response(request: web.Request, reader: Ranking) -> web.Response:
    offset = int_param(request, "offset", 0, 0, 10**9)
    limit = int_param(request, "limit", 10, 1, MAX_PAGE)
    part = await reader.page(offset, limit)
    return envelope.ok({"leaderboard": part.entries, "total": part.total,
                        "offset": offset, "limit": limit})


async def me_response(request: web.Request, reader: Ranking) -> web.Response:
    return envelope.ok(await me_data(request, reader, (await player(request)).sub))


async def me_data(request: web.Request, reader: Ranking, user_id: str) -> dict[str, Any]:
    """The caller's place and neighbours (``user_id``: the caller, whose session the
    caller of this checked)."""
    window = int_param(request, "window", 5, 0, MAX_WINDOW)
    part = await reader.around(user_id, window)
    if part.self_rank is None:
        raise errors.NotFound("You have no score yet")
    mine = next(e for e in part.entries if e["user_id"] == user_id)
    data = {"user_id": user_id, "username": mine["username"], "score": part.self_score,
            "rank": part.self_rank}
    if "metadata" in mine:  # a board's reads
        data["metadata"] = mine["metadata"]
    return {**data, "around": part.entries, "total": part.total}


async def rank_response(request: web.Request, reader: Ranking) -> web.Response:
    return envelope.ok(await rank_data(reader, parse_user_id(request.match_info["id"])))


async def rank_data(reader: Ranking, user_id: str) -> dict[str, Any]:
    part = await reader.around(user_id, 0)
    if part.self_rank is None:
        raise errors.NotFound("That player is not ranked")
    entry = part.entries[0]
    data = {"user_id": user_id, "username": entry["username"], "score": entry["score"],
            "rank": entry["rank"]}
    if "metadata" in entry:  # a board's reads
        data["metadata"] = entry["metadata"]
    return data
