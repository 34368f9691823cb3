"""Competitions: a tournament's window and a board's rules as the score scripts take them.

A tournament (a board with ``starts_at`` and/or ``ends_at``) is fed only inside its
window:

- without a ``reset`` schedule there is one window, ``[starts_at, ends_at)`` (either end
  may be open). At ``ends_at`` its season ends once, as a reset does, and the board
  stays ``ended``;
- with a ``reset`` schedule (both ends then required) the window recurs: the first is
  ``[starts_at, ends_at)``; each later season's opens at the schedule's first instant at
  or after that season began (the previous window's end) and lasts as long
  (``ends_at - starts_at``). Between windows the board is ``upcoming``.

A season of a tournament ends at its window's end, never at the schedule's instants
(those open windows). Everything here is worked out once per definition and season
(memoised), never per request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from .definitions import Board, League
from .schedule import next_after

UPCOMING, OPEN, ENDED = "upcoming", "open", "ended"


def is_tournament(board: Board) -> bool:
    return board.starts_at is not None or board.ends_at is not None


@lru_cache(maxsize=4096)
def _window(starts_at: int | None, ends_at: int | None, reset: str | None, timezone: str,
            season_started_at: int) -> tuple[int | None, int | None]:
    if reset is None or starts_at is None or ends_at is None:
        if ends_at is not None and season_started_at >= ends_at:
            return None, None  # ended, for good
        return starts_at, ends_at
    if season_started_at < ends_at:  # the first window's season (however late made)
        return starts_at, ends_at
    # the first instant at or after the season began (the previous window's end)
    began = datetime.fromtimestamp(season_started_at / 1000, tz=UTC)
    try:
        opens = next_after(reset, timezone, began - timedelta(milliseconds=1))
    except ValueError:
        return None, None  # the schedule never fires again
    start = int(opens.timestamp() * 1000)
    return start, start + (ends_at - starts_at)


def window(board: Board) -> tuple[int | None, int | None] | None:
    """The live season's window ``(opens, closes)`` in ms (either None: open that side),
    or None when the board is no tournament. ``(None, None)`` for a tournament with no
    window left is told apart by ``status``."""
    if not is_tournament(board):
        return None
    return _window(board.starts_at, board.ends_at, board.reset, board.timezone,
                   board.season_started_at)


def _over(board: Board) -> bool:
    """A tournament with no window left (its one window has been cut)."""
    return board.ends_at is not None and window(board) == (None, None)


def status(board: Board, now_ms: int) -> str:
    """``upcoming``, ``open`` or ``ended`` (a board that is no tournament is open)."""
    span = window(board)
    if span is None:
        return OPEN
    if _over(board):
        return ENDED
    opens, closes = span
    if opens is not None and now_ms < opens:
        return UPCOMING
    if closes is not None and now_ms >= closes:
        return ENDED
    return OPEN


def season_closes(board: Board) -> datetime | None:
    """When the live season of a tournament ends (its window's end), None if never or
    no tournament."""
    span = window(board)
    if span is None or span[1] is None or _over(board):
        return None
    return datetime.fromtimestamp(span[1] / 1000, tz=UTC)


@lru_cache(maxsize=4096)
def _rules(board: Board) -> str:
    opens, closes = window(board) or (None, None)
    if is_tournament(board) and _over(board):
        opens, closes = 0, 1  # closed for good: nothing is ever in [0, 1)
    league = board.league
    parts = [opens or 0, closes or 0, int(board.join_required), board.max_size or 0,
             board.max_attempts or 0]
    if league is not None:
        parts += [len(league.tiers), league.bucket_size, league.promote, league.relegate]
    return ",".join(str(p) for p in parts)


def rules(board: Board) -> str:
    """What update.lua, join.lua and admit.lua check on this board (common.lua reads
    it: ``opens,closes,join_required,max_size,max_attempts[,tiers,bucket_size,promote,
    relegate]``, 0 for none); '' for a board with no competition rules."""
    return _rules(board) if board.competes else ""


def league_rules(league: League) -> str:
    """``rules`` for a league season's promotion (promote.lua reads its numbers)."""
    return (f"0,0,0,0,0,{len(league.tiers)},{league.bucket_size},{league.promote},"
            f"{league.relegate}")


MAX_SKIPPED_WINDOWS = 10_000


def last_close(board: Board, now: datetime) -> datetime | None:
    """The end of the last window that has closed by ``now``, starting from the live
    season's: a service that was down across several windows of a recurring tournament
    ends one season there, not one empty season per window nobody could play in (as
    resets do)."""
    closes = season_closes(board)
    if closes is None or closes > now:
        return None
    for _ in range(MAX_SKIPPED_WINDOWS):
        following = season_closes(board.with_changes(
            season=board.season + 1, season_started_at=int(closes.timestamp() * 1000)))
        if following is None or following > now:
            return closes
        closes = following
    return closes
