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


def rich_entry(rank: int, uid: str, score: int, raw_profile: bytes | str,
               raw_meta: bytes | str) -> dict[str, Any]:
    """An entry of a board's reads: the seed's fields and the score's ``metadata``."""
    out = entry(rank, uid, score, raw_profile)
    out["metadata"] = orjson.loads(raw_meta) if raw_meta else None
    return out


class Reader:
    """Atomic reads of one board's live sorted set (one script call each). Scores come
    out as shown: an ``asc`` board stores them negated, so the best ranks first.
    ``metadata``: entries carry each score's metadata (a board's reads; the seed's
    paths read `global` without)."""

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None = None,
                 board: Board | None = None, *, metadata: bool = True) -> None:
        self.board = board or Board(GLOBAL, "Global")
        k = self.board.keys
        self._keys = scripts.RanksKeys(scores=k.scores, member=k.member, profiles=keys.PROFILES,
                                       meta=k.meta)
        self._members_keys = scripts.MembersKeys(scores=k.scores, member=k.member,
                                                 profiles=keys.PROFILES, meta=k.meta)
        self._sign = self.board.sign
        self._meta = "1" if metadata else "0"
        self._entry = rich_entry if metadata else _plain_entry
        self._script = scripts.load("ranks", redis, pipe)
        self._members = scripts.load("members", redis, pipe)

    async def _call(self, mode: str, a: int | str, b: int) -> Slice:
        reply = scripts.parse_ranks(await self._script(
            keys=self._keys, args=scripts.RanksArgs(mode, a, b, self._meta)))
        sign, make = self._sign, self._entry
        entries = [make(reply.first_rank + i, uid, score * sign, raw, meta)
                   for i, (uid, score, raw, meta) in enumerate(reply.rows)]
        own = reply.self_score * sign if reply.self_score is not None else None
        return Slice(reply.total, reply.self_rank, own, entries)

    async def members(self, user_ids: list[str]) -> Slice:
        """The listed players that are ranked, by rank (the friends view)."""
        reply = scripts.parse_members(await self._members(keys=self._members_keys,
                                                          args=scripts.MembersArgs(
                                                              uids=",".join(user_ids))))
        rows = sorted(reply.rows, key=lambda r: r[1])
        return Slice(reply.total, None, None,
                     [self._entry(rank, uid, score * self._sign, raw, meta)
                      for uid, rank, score, raw, meta in rows])

    async def page(self, offset: int, limit: int) -> Slice:
        return await self._call("range", offset, offset + limit - 1)

    async def around(self, user_id: str, window: int) -> Slice:
        return await self._call("around", user_id, window)

    async def top(self) -> list[dict[str, Any]]:
        return (await self.page(0, keys.TOP_N)).entries


def _plain_entry(rank: int, uid: str, score: int, raw_profile: bytes | str,
                 _meta: bytes | str) -> dict[str, Any]:
    return entry(rank, uid, score, raw_profile)
