"""Leaderboard reads: ranges, a player's neighbourhood, the cached top 10."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from . import store
from .autopipe import AutoPipeline, script
from .envelope import now_ms

MAX_PAGE = 100
MAX_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Slice:
    total: int
    self_rank: int | None
    self_score: int | None
    entries: list[dict[str, Any]]


def _entries(first_rank: int, flat: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(flat), 3):
        uid = flat[i].decode() if isinstance(flat[i], bytes) else flat[i]
        profile = orjson.loads(flat[i + 2]) if flat[i + 2] else {}
        out.append({
            "rank": first_rank + i // 3,
            "user_id": uid,
            "username": profile.get("username"),
            "score": int(float(flat[i + 1])),
            "avatar_url": profile.get("avatar_url"),
        })
    return out


class Reader:
    """Atomic reads of the live sorted set (one script call each)."""

    def __init__(self, redis: Any, pipe: AutoPipeline | None = None) -> None:
        self._script = script(redis, pipe, store.lua_source("ranks"))

    async def _call(self, *args: Any) -> Slice:
        reply = await self._script(keys=[store.SCORES, store.MEMBER, store.PROFILES], args=args)
        rank = int(reply[1])
        score = int(float(reply[2])) if reply[2] not in (b"", "") else None
        return Slice(
            total=int(reply[0]),
            self_rank=rank if rank > 0 else None,
            self_score=score,
            entries=_entries(int(reply[3]), reply[4:]),
        )

    async def page(self, offset: int, limit: int) -> Slice:
        return await self._call("range", offset, offset + limit - 1)

    async def around(self, user_id: str, window: int) -> Slice:
        return await self._call("around", user_id, window)


@dataclass(frozen=True, slots=True)
class CachedTop10:
    data: bytes  # the serialized ``data`` object of the seed's response
    etag: str
    expires: float  # monotonic time after which the memo is not used
    headers: dict[str, str]  # for a 304
    json_headers: dict[str, str]  # for a 200


def top10_data(entries: list[dict[str, Any]], last_updated: int, ttl: int) -> bytes:
    return orjson.dumps({"leaderboard": entries, "last_updated": last_updated, "cache_ttl": ttl})


def etag_of(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


class Top10Memo:
    """The top-10 body kept in process as ready bytes, for at most ``max_age_s``.

    The hub replaces it whenever it has built a fresh top 10, so a process
    serves the same board it pushes to its sockets.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self.current: CachedTop10 | None = None

    def get(self) -> CachedTop10 | None:
        cur = self.current
        if cur is not None and cur.expires > time.monotonic():
            return cur
        return None

    def put(self, data: bytes) -> CachedTop10:
        etag = etag_of(data)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        self.current = CachedTop10(data, etag, time.monotonic() + self.max_age_s, headers,
                                   {**headers, "Content-Type": "application/json"})
        return self.current


async def store_top10(redis: Any, entries: list[dict[str, Any]], ttl_s: int,
                      updated: int | None = None) -> int:
    """Write the seed's ``leaderboard:top10`` (a JSON array) with its TTL.

    When it was built is not stored beside it: it is the TTL already spent
    (``ttl - PTTL``), so the cache stays one key, which also suits a cluster.
    """
    updated = updated or now_ms()
    await redis.set(store.TOP10, orjson.dumps(entries), px=ttl_s * 1000)
    return updated


async def cached_top10(redis: Any, reader: Reader, ttl_s: int) -> bytes:
    """The top-10 ``data`` from the Redis cache; on a miss, built, stored and returned."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(store.TOP10)
        pipe.pttl(store.TOP10)
        raw, pttl = await pipe.execute()
    if raw is not None and pttl > 0:
        updated = now_ms() - (ttl_s * 1000 - pttl)
        return top10_data(orjson.loads(raw), updated, ttl_s)
    entries = (await reader.page(0, store.TOP_N)).entries
    updated = await store_top10(redis, entries, ttl_s)
    return top10_data(entries, updated, ttl_s)
