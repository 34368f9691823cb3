"""The Pub/Sub vocabulary on ``leaderboard_updates``: one JSON object per message,
its ``kind`` one of ``change``, ``refresh`` or ``revoke``.

The Lua scripts publish changes and refreshes (``publish_event`` in
``store/lua/common.lua``); Python publishes revocations with ``encode``; every
process's listener reads them all with ``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

CHANGE, REFRESH, REVOKE = "change", "refresh", "revoke"


@dataclass(frozen=True, slots=True)
class Change:
    """A player's move in the top 10 (``seq`` is the board's change sequence)."""

    seq: int
    user_id: str
    previous_rank: int | None
    rank: int
    score: int


@dataclass(frozen=True, slots=True)
class Refresh:
    """The top 10 changed in a way no single change describes (a ban): re-read it."""

    seq: int


@dataclass(frozen=True, slots=True)
class Revoke:
    """Close the sockets of this player (a ban) or of this session (logout, refresh)."""

    user_id: str | None
    jti: str | None


Event = Change | Refresh | Revoke


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
            return Change(int(raw["seq"]), str(raw["user_id"]), None if prev < 0 else prev,
                          int(raw["rank"]), int(raw["score"]))
        if kind == REFRESH:
            return Refresh(int(raw.get("seq", 0)))
        if kind == REVOKE:
            return Revoke(raw.get("user_id"), raw.get("jti"))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return None
