"""The boards: their definitions, each board's reads (as the seed's, per board), the
friends view, and posting to one board."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ... import errors
from ...appkeys import BOARDS, CONFIG, CONTESTS, HISTORY, VIEWS
from ...board import competition
from ...board.contests import tier_name
from ...board.definitions import GLOBAL, Board, iso
from ...board.history import ArchiveReader, EndedReader, PastSeason, SeasonReader
from ...board.reader import MAX_PAGE, Ranking
from ...board.schedule import next_reset
from ...board.top10 import route_suffix
from ...board.views import View
from ...players.users import parse_user_id
from ...scoring.replies import refusal
from ...store.scripts import ScoreReply
from .. import envelope, requests, responses
from ..docs import (
    BEARER,
    BEARER_OR_KEY,
    BOARD_ID_SCHEMA,
    IDEMPOTENCY_PARAM,
    UUID_PARAM,
    either_body,
    fails,
    int_query,
    ok,
    operation,
)
from . import reads
from .common import player, writer_of
from .scores import post_update

MAX_FRIENDS = 100
MAX_SEASON = 2**31 - 1
SEASONS_PAGE = 20  # seasons per page by default
BOARD_PARAM = {"name": "board", "in": "path", "required": True, "schema": BOARD_ID_SCHEMA}
SEASON_PARAM = {"name": "season", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SEASON}}


@dataclass(frozen=True, slots=True)
class PastView:
    board: Board  # as it was in that season
    reader: SeasonReader
    past: PastSeason


def _board_id(request: web.Request) -> str:
    """The board in the path; the seed's paths (no board in them) read `global`."""
    return request.match_info.get("board", GLOBAL)


def _suffix(request: web.Request, board: Board) -> bytes:
    """What a cached top 10's body gets added: the board's name on the board routes, nothing
    on the seed's path (the seed's shape)."""
    return route_suffix(board) if "board" in request.match_info else b""


async def _live_board(request: web.Request) -> Board:
    boards, board_id = request.app[BOARDS], _board_id(request)
    return boards.cached(board_id) or await boards.get(board_id)


async def _any_board(request: web.Request) -> tuple[Board, bool]:
    """The board named in the path and whether it is live; a retired board's definition
    comes from PostgreSQL (its history stays readable)."""
    try:
        return await _live_board(request), True
    except errors.NotFound:
        return await request.app[HISTORY].board(_board_id(request)), False


def _cached_view(request: web.Request) -> View | None:
    """The live view of the board named in the path, when that board is cached here and
    no query string asks for another season: the hot path, with nothing to await."""
    app = request.app
    board = app[BOARDS].cached(_board_id(request))
    if board is None or request.query_string:
        return None
    return app[VIEWS].of(board)


async def _view(request: web.Request) -> View | PastView:
    """The board named in the path, at the season asked for (``?season=``, default the
    live one); a past season (of a live or a retired board) is read from history."""
    cached = _cached_view(request)
    if cached is not None:
        return cached
    if not (request.query_string and "season" in request.query
            and "board" in request.match_info):  # the seed's paths have no seasons
        return request.app[VIEWS].of(await _live_board(request))
    board, live = await _any_board(request)
    season = reads.int_param(request, "season", board.season, 1, MAX_SEASON)
    if live and season == board.season:
        return request.app[VIEWS].of(board)
    reader = (await request.app[HISTORY].reader(board, season)
              if season <= board.season else None)
    if reader is None:
        raise errors.NotFound(f"Board {board.id!r} has no season {season}")
    return PastView(reader.board, reader, reader.past)


@operation(summary="Every live board's definition", parameters=[],
           responses={**ok(responses.BoardList), **fails(503)})
async def list_boards(request: web.Request) -> web.Response:
    catalogue = request.app[CONFIG].actions
    await request.app[BOARDS].load()
    return envelope.ok({"boards": [b.public(catalogue) for b in request.app[BOARDS].live()]})


def detail(board: Board, catalogue: Any, players: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    upcoming = (competition.season_closes(board) if board.ends_at is not None
                else next_reset(board, now))
    return {**board.public(catalogue),
            "status": competition.status(board, int(now.timestamp() * 1000)),
            "season_started_at": iso(board.season_started_at),
            "next_reset_at": upcoming.isoformat() if upcoming else None, "players": players}


@operation(summary="One board: its definition, season and players", parameters=[BOARD_PARAM],
           responses={**ok(responses.BoardDetail), **fails(404, 503)})
async def get_board(request: web.Request) -> web.Response:
    view = request.app[VIEWS].of(await _live_board(request))
    players = (await view.reader.page(0, 1)).total
    return envelope.ok(detail(view.board, request.app[CONFIG].actions, players))


def top10_now(request: web.Request) -> web.Response | None:
    """A live board's top 10 from this process's memo, or None when that needs an
    await (a board not cached here, a query string such as a past season, no fresh
    memo). ``_cached_view`` and ``_live_top10`` written out: the hot read of a board."""
    if request.rel_url.raw_query_string:
        return None
    app = request.app
    board = app[BOARDS].by_id.get(request.match_info.get("board", GLOBAL))
    if board is None:
        return None
    view = app[VIEWS].of(board)
    cached = view.top10.memo.get()
    if cached is None:
        return None
    if view.rich_top10 is not None and "board" in request.match_info:
        rich = view.rich_top10.get(cached)
        return reads.top10_response(request, rich) if rich is not None else None
    return reads.top10_response(request, cached, _suffix(request, board))


@operation(summary="A board's cached top 10", parameters=[BOARD_PARAM, SEASON_PARAM],
           responses={**ok(responses.BoardTop10Data), "304": {"description": "Not modified"},
                      **fails(400, 404, 503)})
async def top10(request: web.Request) -> web.Response:
    view = _cached_view(request) or await _view(request)
    if isinstance(view, PastView):
        return envelope.ok({"leaderboard": await view.reader.top(),
                            "last_updated": int(view.past.ended_at.timestamp() * 1000),
                            "cache_ttl": request.app[CONFIG].cache_ttl_s,
                            "board": view.board.id, "season": view.board.season})
    top10 = view.top10
    cached = top10.memo.get() or await top10.current()
    if view.rich_top10 is not None and "board" in request.match_info:
        rich = view.rich_top10.get(cached) or await view.rich_top10.build(cached)
        return reads.top10_response(request, rich)
    return reads.top10_response(request, cached, _suffix(request, view.board))


def _ranking(request: web.Request, view: View | PastView) -> Ranking:
    """The reads of the view: with metadata on a board's route, the seed's shape on the
    seed's paths (a past season is only ever on a board's route)."""
    if isinstance(view, PastView):
        return view.reader
    return view.ranking("board" in request.match_info)


@operation(summary="Any page of a board",
           parameters=[BOARD_PARAM, SEASON_PARAM, int_query("offset", 0, 10**9, 0),
                       int_query("limit", 1, 100, 10)],
           responses={**ok(responses.BoardPageData), **fails(400, 404, 503)})
async def page(request: web.Request) -> web.Response:
    return await reads.page_response(request, _ranking(request, await _view(request)))


@operation(summary="The caller's rank and neighbours on a board (on a league board: the "
                   "caller's tier, bucket and the whole bucket)", security=BEARER,
           parameters=[BOARD_PARAM, int_query("window", 0, 50, 5)],
           responses={**ok(responses.BoardMeData), **fails(400, 401, 403, 404, 503)})
async def me(request: web.Request) -> web.Response:
    claims = await player(request)
    view = request.app[VIEWS].of(await _live_board(request))
    data = await reads.me_data(request, _ranking(request, view), claims.sub)
    if view.board.league is not None:
        bucket = await request.app[CONTESTS].of_player(view.board, claims.sub)
        data.update(tier=bucket.tier, bucket=bucket.number or None,
                    bucket_rank=bucket.rank_of(claims.sub))
        if bucket.number:
            data["around"] = bucket.entries
    return envelope.ok(data)


@operation(summary="One player's rank on a board (on a league board: their tier, bucket "
                   "and rank in it)", parameters=[BOARD_PARAM, UUID_PARAM, SEASON_PARAM],
           responses={**ok(responses.BoardRankData), **fails(400, 404, 503)})
async def user_rank(request: web.Request) -> web.Response:
    view = await _view(request)
    user_id = parse_user_id(request.match_info["id"])
    data = await reads.rank_data(_ranking(request, view), user_id)
    board = view.board
    if board.league is not None:
        place: tuple[str | None, int | None, int | None] = (None, None, None)
        if isinstance(view, PastView) and isinstance(view.reader, ArchiveReader):
            found = await view.reader.place(user_id)
            if found is not None:
                place = (tier_name(board, found[0]), found[1], found[2])
        else:
            bucket = await request.app[CONTESTS].of_player(board, user_id)
            place = (bucket.tier, bucket.number or None, bucket.rank_of(user_id))
        data.update(zip(("tier", "bucket", "bucket_rank"), place, strict=True))
    return envelope.ok(data)


@operation(summary="A league bucket's standings (`?season=` for a past one)",
           parameters=[BOARD_PARAM, {"name": "bucket", "in": "path", "required": True,
                                     "schema": {"type": "integer", "minimum": 1,
                                                "maximum": MAX_SEASON}}, SEASON_PARAM],
           responses={**ok(responses.BucketData), **fails(400, 404, 503)})
async def bucket(request: web.Request) -> web.Response:
    raw = request.match_info["bucket"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= MAX_SEASON):
        raise errors.ValidationFailed(fields={"bucket": ["Must be a positive integer."]})
    number = int(raw)
    board, live = await _any_board(request)
    if board.league is None:
        raise errors.NotFound(f"Board {board.id!r} is no league")
    season = reads.int_param(request, "season", board.season, 1, MAX_SEASON)
    if live and season == board.season:
        found = await request.app[CONTESTS].bucket(board, number)
        tier, entries = found.tier, found.entries
    else:
        reader = (await request.app[HISTORY].reader(board, season)
                  if season <= board.season else None)
        if reader is None:
            raise errors.NotFound(f"Board {board.id!r} has no season {season}")
        past = await _past_bucket(request, reader, number)
        if past is None:
            raise errors.NotFound(f"Board {board.id!r} had no bucket {number} in season "
                                  f"{season}")
        tier, entries = past
    return envelope.ok({"board": board.id, "season": season, "bucket": number,
                        "tier": tier, "leaderboard": entries})


async def _past_bucket(request: web.Request, reader: SeasonReader,
                       number: int) -> tuple[str | None, list[dict[str, Any]]] | None:
    """An ended season's bucket: from its Redis keys until archived, then the archive."""
    board = reader.board
    if isinstance(reader, EndedReader):
        try:
            found = await request.app[CONTESTS].bucket(board, number)
            return found.tier, found.entries
        except errors.NotFound:  # archived meanwhile (its keys dropped)
            past = await request.app[HISTORY].past(board.id, board.season)
            if past is None or not past.archived:
                return None
            reader = ArchiveReader(request.app[HISTORY], board, past)
    got = await reader.bucket(number)
    return None if got is None else (tier_name(board, got[0]), got[1])


@operation(summary="Join a board's season (a tournament's seat): a player's token, or a "
                   "server key naming `user_id`", security=BEARER_OR_KEY,
           parameters=[BOARD_PARAM],
           requestBody={**either_body(requests.EmptySchema, requests.JoinSchema),
                        "required": False},
           responses={**ok(responses.JoinData), **fails(400, 401, 403, 404, 409, 503)})
async def join(request: web.Request) -> web.Response:
    writer, caller = await writer_of(request)
    body = await requests.load(request, requests.JoinSchema if writer.key is not None
                               else requests.EmptySchema, allow_empty=writer.key is None)
    user_id = str(body["user_id"]) if writer.key is not None else caller
    try:
        board = await _live_board(request)
    except errors.NotFound:
        retired = await request.app[HISTORY].board(_board_id(request))  # 404 if never
        raise errors.Conflict(f"Board {retired.id!r} is retired") from None
    boards = request.app[BOARDS]
    for _ in range(3):
        reply = await request.app[CONTESTS].join(board, user_id, writer.revoked,
                                                 writer.key_id, boards.version)
        if reply.status != "STALE":
            break
        await boards.load()
        board = await boards.get(board.id)
    if reply.status == "OK":
        return envelope.ok({"board": board.id, "season": board.season, "joined": True,
                            "players": reply.players})
    if reply.status == "STALE":
        raise errors.ServiceUnavailable("Boards are being changed; retry")
    raise refusal(ScoreReply(reply.status, gate=reply.gate), "join", writer.key is not None,
                  board.id)


def _user_ids(request: web.Request) -> list[str]:
    raw = request.query.get("user_ids", "")
    parts = raw.split(",") if raw else []
    problem = None
    if not 1 <= len(parts) <= MAX_FRIENDS:
        problem = f"1 to {MAX_FRIENDS} comma-separated user ids."
    else:
        try:
            return list(dict.fromkeys(str(uuid.UUID(p)) for p in parts))
        except ValueError:
            problem = "Each must be a UUID."
    raise errors.ValidationFailed(fields={"user_ids": [problem]})


@operation(summary="The friends view: the listed players that are ranked on a board, by rank",
           parameters=[BOARD_PARAM, SEASON_PARAM,
                       {"name": "user_ids", "in": "query", "required": True,
                        "style": "form", "explode": False,
                        "schema": {"type": "array", "minItems": 1, "maxItems": MAX_FRIENDS,
                                   "items": {"type": "string", "format": "uuid"}}}],
           responses={**ok(responses.RanksData), **fails(400, 404, 503)})
async def ranks(request: web.Request) -> web.Response:
    ids = _user_ids(request)
    view = await _view(request)
    part = await _ranking(request, view).members(ids)
    return envelope.ok({"board": view.board.id, "season": view.board.season,
                        "leaderboard": part.entries})


@operation(summary="A board's seasons, newest first: the live one, then each past one; "
                   "paged (a retired board's stay readable)",
           parameters=[BOARD_PARAM, int_query("limit", 1, MAX_PAGE, SEASONS_PAGE),
                       {"name": "cursor", "in": "query", "required": False,
                        "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,9}$"}}],
           responses={**ok(responses.SeasonList), **fails(400, 404, 503)})
async def seasons(request: web.Request) -> web.Response:
    limit = reads.int_param(request, "limit", SEASONS_PAGE, 1, MAX_PAGE)
    cursor = reads.int_param(request, "cursor", 0, 1, MAX_SEASON) or None
    board, live = await _any_board(request)
    page: list[dict[str, Any]] = []
    if live and cursor is None:
        players = (await request.app[VIEWS].of(board).reader.page(0, 1)).total
        page.append({"season": board.season, "started_at": iso(board.season_started_at),
                     "ended_at": None, "players": players, "winner": None})
    below = cursor or (board.season if live else board.season + 1)
    room = limit - len(page)
    past = await request.app[HISTORY].seasons(board, below, room + 1)
    page += past[:room]
    more = len(past) > room
    return envelope.ok({"board": board.id, "seasons": page,
                        "next_cursor": str(page[-1]["season"]) if more else None})


@operation(
    summary="Post to one board only (the action must feed it)", security=BEARER_OR_KEY,
    parameters=[BOARD_PARAM, IDEMPOTENCY_PARAM],
    requestBody=either_body(requests.UpdateScoreSchema, requests.KeyUpdateSchema),
    responses={**ok(responses.BoardScoreData),
               **fails(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)})
async def post_score(request: web.Request) -> web.Response:
    return await post_update(request, board_id=request.match_info["board"])
