"""The Pub/Sub vocabulary on ``leaderboard_updates``: one JSON object per message,
its ``kind`` one of ``change``, ``refresh``, ``revoke``, ``boards`` or ``bucket``. Changes and
refreshes name their ``board`` (and its ``season``); one from before boards is
``global``'s.

The Lua scripts publish changes and refreshes (``publish_event`` in
``store/lua/common.lua``); Python publishes revocations and board changes with the
``encode_*`` functions; every process's listener reads them all with ``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .keys import GLOBAL

CHANGE, REFRESH, REVOKE, BOARDS, BUCKET = "change", "refresh", "revoke", "boards", "bucket"


@dataclass(frozen=True, slots=True)
class Change:
    """A player's move in a board's top 10 (``seq`` is the board's change sequence)."""

    board: str
    season: int
    seq: int
    user_id: str
    previous_rank: int | None
    rank: int
    score: int


@dataclass(frozen=True, slots=True)
class Refresh:
    """A board's top 10 changed in a way no single change describes (a ban): re-read it."""

    board: str
    seq: int


@dataclass(frozen=True, slots=True)
class Revoke:
    """Close the sockets of this player (a ban) or of this session (logout, refresh)."""

    user_id: str | None
    jti: str | None


@dataclass(frozen=True, slots=True)
class BoardsChanged:
    """An admin created, changed or retired a board: reload the definitions."""

    board: str


@dataclass(frozen=True, slots=True)
class BucketChanged:
    """A score moved in one bucket of a league board: its watchers get its standings."""

    board: str
    season: int
    bucket: int


Event = Change | Refresh | Revoke | BoardsChanged | BucketChanged


def encode_boards(board_id: str) -> bytes:
    return orjson.dumps({"kind": BOARDS, "board": board_id})


def encode_bucket(board_id: str, season: int, bucket: int) -> bytes:
    return orjson.dumps({"kind": BUCKET, "board": board_id, "season": season, "bucket": bucket})


def encode_revoke(*, user_id: str | None = None, jti: str | None = None) -> bytes:
    fields: dict[str, str] = {"kind": REVOKE}
    if user_id:
        fields["user_id"] = user_id
    if jti:
        fields["jti"] = jti
    return orjson.dumps(fields)


def decode(payload: bytes | str) -> Event | None:
    """The event in a message, or None for anything malformed or of an unknown kind."""
    try:
        raw = orjson.loads(payload)
        kind = raw.get("kind")
        if kind == CHANGE:
            prev = int(raw.get("previous_rank", -1))
            return Change(str(raw.get("board", GLOBAL)), int(raw.get("season", 1)),
                          int(raw["seq"]), str(raw["user_id"]), None if prev < 0 else prev,
                          int(raw["rank"]), int(raw["score"]))
        if kind == REFRESH:
            return Refresh(str(raw.get("board", GLOBAL)), int(raw.get("seq", 0)))
        if kind == BUCKET:
            return BucketChanged(str(raw["board"]), int(raw["season"]), int(raw["bucket"]))
        if kind == BOARDS:
            return BoardsChanged(str(raw["board"]))
        if kind == REVOKE:
            return Revoke(raw.get("user_id"), raw.get("jti"))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return None
