"""A competition's live reads and writes beside the score path: joining a tournament
(join.lua) and a league's buckets (bucket.lua), each one atomic script call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors
from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .competition import rules
from .definitions import Board
from .reader import rich_entry


@dataclass(frozen=True, slots=True)
class Bucket:
    """A league bucket's live standings (``number`` 0: the player is not placed yet;
    ``tier`` then says the tier they would play in)."""

    number: int
    tier: str | None
    entries: list[dict[str, Any]]

    def rank_of(self, user_id: str) -> int | None:
        return next((e["rank"] for e in self.entries if e["user_id"] == user_id), None)


def tier_name(board: Board, tier: int) -> str | None:
    league = board.league
    if league is None or not 0 <= tier < len(league.tiers):
        return None
    return league.tiers[tier]


class Contests:
    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None = None) -> None:
        self._join = scripts.load("join", redis, pipe, durable=True)
        self._bucket = scripts.load("bucket", redis, pipe)

    async def join(self, board: Board, user_id: str, revoked: str, writer: str,
                   version: int) -> scripts.JoinReply:
        """Seat the player in the board's live season (``revoked``: the session's or the
        server key's revocation key; ``writer``: the key's id, '' for a token)."""
        return scripts.parse_join(await self._join(
            keys=scripts.JoinKeys(keys.PROFILES, keys.BANNED, revoked, keys.BOARDS_VERSION),
            args=scripts.JoinArgs(user_id, writer, version, board.id, board.season,
                                  rules(board))))

    async def bucket(self, board: Board, number: int) -> Bucket:
        """Bucket ``number`` of the board's live season; 404 when there is none."""
        found = await self._read(board, "bucket", number)
        if found.number == 0:
            raise errors.NotFound(f"Board {board.id!r} has no bucket {number} in season "
                                  f"{board.season}")
        return found

    async def of_player(self, board: Board, user_id: str) -> Bucket:
        """The player's bucket this season (number 0 when not placed yet)."""
        return await self._read(board, "player", user_id)

    async def _read(self, board: Board, mode: str, a: int | str) -> Bucket:
        if board.league is None:
            raise errors.NotFound(f"Board {board.id!r} is no league")
        k = board.keys
        reply = scripts.parse_bucket(await self._bucket(
            keys=scripts.BucketKeys(k.scores, k.member, keys.PROFILES, k.meta),
            args=scripts.BucketArgs(board.id, board.season, rules(board), mode, a)))
        sign = board.sign
        entries = [rich_entry(i + 1, uid, score * sign, raw, meta)
                   for i, (uid, score, raw, meta) in enumerate(reply.rows)]
        return Bucket(reply.bucket, tier_name(board, reply.tier), entries)
