"""Leaderboard reads: ranges and a player's neighbourhood, each one atomic Lua read
of the live sorted set and the profiles (ranks.lua)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..store import keys, scripts
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient

MAX_PAGE = 100
MAX_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Slice:
    total: int
    self_rank: int | None
    self_score: int | None
    entries: list[dict[str, Any]]


def _entries(reply: scripts.RanksReply) -> list[dict[str, Any]]:
    out = []
    for i, (uid, score, raw_profile) in enumerate(reply.rows):
        profile = orjson.loads(raw_profile) if raw_profile else {}
        out.append({
            "rank": reply.first_rank + i,
            "user_id": uid,
            "username": profile.get("username"),
            "score": score,
            "avatar_url": profile.get("avatar_url"),
        })
    return out


class Reader:
    """Atomic reads of the live sorted set (one script call each)."""

    _KEYS = scripts.RanksKeys(scores=keys.SCORES, member=keys.MEMBER, profiles=keys.PROFILES)

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None = None) -> None:
        self._script = scripts.load("ranks", redis, pipe)

    async def _call(self, args: scripts.RanksArgs) -> Slice:
        reply = scripts.parse_ranks(await self._script(keys=self._KEYS, args=args))
        return Slice(reply.total, reply.self_rank, reply.self_score, _entries(reply))

    async def page(self, offset: int, limit: int) -> Slice:
        return await self._call(scripts.RanksArgs(mode="range", a=offset, b=offset + limit - 1))

    async def around(self, user_id: str, window: int) -> Slice:
        return await self._call(scripts.RanksArgs(mode="around", a=user_id, b=window))

    async def top(self) -> list[dict[str, Any]]:
        return (await self.page(0, keys.TOP_N)).entries
