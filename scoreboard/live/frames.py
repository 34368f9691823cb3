"""What a watcher receives: the seed's ``leaderboard_update`` message, framed once
for every socket."""

from __future__ import annotations

from typing import Any

import orjson

from ..board.contests import Bucket
from ..board.definitions import Board
from ..clock import now_ms
from ..store.events import Change


def text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed WebSocket text frame (server to client)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


def message(entries: list[dict[str, Any]], changes: list[dict[str, Any]], seq: int,
            board: str = "global", season: int = 1) -> bytes:
    """The seed's message, plus ``data.changes`` and top-level ``seq``, ``board`` and
    ``season``."""
    return orjson.dumps({
        "type": "leaderboard_update",
        "data": {"leaderboard": entries, "changes": changes},
        "seq": seq,
        "board": board,
        "season": season,
        "timestamp": now_ms(),
    })


def merge_changes(changes: list[Change]) -> list[dict[str, Any]]:
    """One change per player over a window: from their first rank to their last."""
    merged: dict[str, dict[str, Any]] = {}
    for ch in changes:
        prev = merged.get(ch.user_id)
        merged[ch.user_id] = {
            "user_id": ch.user_id,
            "previous_rank": prev["previous_rank"] if prev else ch.previous_rank,
            "rank": ch.rank,
            "score": ch.score,
        }
    return list(merged.values())


def bucket_message(board: Board, bucket: Bucket | None) -> bytes:
    """A league watcher's own bucket: its standings, tier and the zones' sizes (the top
    ``promote`` go up at the season's end, the bottom ``relegate`` down). ``bucket``
    None (or number 0): the player is not placed this season yet."""
    league = board.league
    number = bucket.number if bucket is not None and bucket.number > 0 else None
    return orjson.dumps({
        "type": "bucket_update",
        "data": {"bucket": number,
                 "tier": bucket.tier if bucket is not None else None,
                 "leaderboard": bucket.entries if bucket is not None and number else [],
                 "promote": league.promote if league else 0,
                 "relegate": league.relegate if league else 0},
        "board": board.id,
        "season": board.season,
        "timestamp": now_ms(),
    })
