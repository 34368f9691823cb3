"""Board reads: ranges, a player's neighbourhood and a list of players, each one atomic
Lua read of the live sorted set and the profiles (ranks.lua, members.lua)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .definitions import GLOBAL, Board

MAX_PAGE = 100
MAX_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Slice:
    total: int
    self_rank: int | None
    self_score: int | None
    entries: list[dict[str, Any]]


class Ranking(Protocol):
    """The reads a board's live season (``Reader``) and a past one (``SeasonReader``)
    both answer."""

    board: Board

    async def page(self, offset: int, limit: int) -> Slice: ...
    async def around(self, user_id: str, window: int) -> Slice: ...
    async def members(self, user_ids: list[str]) -> Slice: ...
    async def top(self) -> list[dict[str, Any]]: ...


def entry(rank: int, uid: str, score: int, raw_profile: bytes | str) -> dict[str, Any]:
    profile = orjson.loads(raw_profile) if raw_profile else {}
    return {"rank": rank, "user_id": uid, "username": profile.get("username"), "score": score,
            "avatar_url": profile.get("avatar_url")}


class Reader:
    """Atomic reads of one board's live sorted set (one script call each). Scores come
    out as shown: an ``asc`` board stores them negated, so the best ranks first."""

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None = None,
                 board: Board | None = None) -> None:
        self.board = board or Board(GLOBAL, "Global")
        k = self.board.keys
        self._keys = scripts.RanksKeys(scores=k.scores, member=k.member, profiles=keys.PROFILES)
        self._members_keys = scripts.MembersKeys(scores=k.scores, member=k.member,
                                                 profiles=keys.PROFILES)
        self._sign = self.board.sign
        self._script = scripts.load("ranks", redis, pipe)
        self._members = scripts.load("members", redis, pipe)

    async def _call(self, args: scripts.RanksArgs) -> Slice:
        reply = scripts.parse_ranks(await self._script(keys=self._keys, args=args))
        sign = self._sign
        entries = [entry(reply.first_rank + i, uid, score * sign, raw)
                   for i, (uid, score, raw) in enumerate(reply.rows)]
        own = reply.self_score * sign if reply.self_score is not None else None
        return Slice(reply.total, reply.self_rank, own, entries)

    async def members(self, user_ids: list[str]) -> Slice:
        """The listed players that are ranked, by rank (the friends view)."""
        reply = scripts.parse_members(await self._members(keys=self._members_keys,
                                                          args=scripts.MembersArgs(
                                                              uids=",".join(user_ids))))
        rows = sorted(reply.rows, key=lambda r: r[1])
        return Slice(reply.total, None, None,
                     [entry(rank, uid, score * self._sign, raw) for uid, rank, score, raw in rows])

    async def page(self, offset: int, limit: int) -> Slice:
        return await self._call(scripts.RanksArgs(mode="range", a=offset, b=offset + limit - 1))

    async def around(self, user_id: str, window: int) -> Slice:
        return await self._call(scripts.RanksArgs(mode="around", a=user_id, b=window))

    async def top(self) -> list[dict[str, Any]]:
        return (await self.page(0, keys.TOP_N)).entries
