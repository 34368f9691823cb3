"""The cached top 10: the seed's ``leaderboard:top10`` key in Redis, and an in-process
memo of the response body. ``Top10Cache.publish`` is the one way both are written."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import hdrs
from multidict import CIMultiDict

from .. import headers as common
from ..clock import now_ms
from ..store import keys
from ..store.client import RedisClient
from .definitions import Board
from .reader import Reader


@dataclass(frozen=True, slots=True)
class CachedTop10:
    data: bytes  # the serialized ``data`` object of the seed's response
    etag: str  # weak: names the board shown, whenever that body was built
    expires: float  # monotonic time after which the memo is not used
    # a response copies its headers: from a CIMultiDict that is a copy of its entries,
    # from a dict it case-folds and hashes each name again
    headers: CIMultiDict[str]  # for a 304
    json_headers: CIMultiDict[str]  # for a 200


def top10_data(entries: bytes, last_updated: int, ttl: int, extra: bytes = b"") -> bytes:
    """The ``data`` object around ``entries`` (a JSON array); ``extra`` is ``,"name":value...``."""
    return (b'{"leaderboard":%s,"last_updated":%d,"cache_ttl":%d%s}'
            % (entries, last_updated, ttl, extra))


def board_suffix(board: Board) -> bytes:
    """What names a board in its top 10's data object: ``,"board":id,"season":N``."""
    return b',"board":%s,"season":%d' % (orjson.dumps(board.id), board.season)


def cached_suffix(board: Board) -> bytes:
    """What a board's cached data object carries beyond the seed's: its name, except
    `global`, whose cache is the seed's body (``/api/v1/leaderboard/top10``)."""
    return b"" if board.id == keys.GLOBAL else board_suffix(board)


def route_suffix(board: Board) -> bytes:
    """What ``/api/v1/boards/{id}/top10`` adds to the cached data object: `global`'s
    name (its cache is the seed's body), nothing for the others (theirs has it)."""
    return board_suffix(board) if board.id == keys.GLOBAL else b""


def top10_body(data: bytes, more: bytes, now: int) -> bytes:
    """The seed's success envelope around a cached data object, ``more`` added to it."""
    if more:
        data = data[:-1] + more + b"}"
    return b'{"success":true,"data":' + data + b',"timestamp":%d}' % now


def etag_of(entries: bytes, extra: bytes = b"") -> str:
    """A weak tag of the board shown: the entries and the board's own fields, not when the
    body was built, so a rebuild of an unchanged top 10 keeps the tag (and a 304 holds)."""
    return 'W/"' + hashlib.blake2b(entries + extra, digest_size=12).hexdigest() + '"'


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

    def put(self, data: bytes, etag: str) -> CachedTop10:
        headers = {hdrs.ETAG: etag, hdrs.CACHE_CONTROL: "no-cache", **common.COMMON}
        self.current = CachedTop10(data, etag, time.monotonic() + self.max_age_s,
                                   CIMultiDict(headers),
                                   CIMultiDict({**headers, **common.JSON_COMMON}))
        return self.current


class Top10Cache:
    """A board's cached top 10 (a JSON array, ``ttl_s``; `global`'s is the seed's
    ``leaderboard:top10``) and this process's memo of it.

    When it was built is not stored beside it: it is the TTL already spent
    (``ttl - PTTL``), so the cache stays one key, which also suits a cluster.
    """

    def __init__(self, redis: RedisClient, reader: Reader, memo: Top10Memo, ttl_s: int) -> None:
        self.redis = redis
        self.reader = reader
        self.memo = memo
        self.ttl_s = ttl_s
        board = reader.board
        self.key = board.keys.top10
        # the seed's body for `global`; every other board also names itself and its season
        self.extra = cached_suffix(board)

    def _put(self, raw: bytes, updated: int) -> CachedTop10:
        return self.memo.put(top10_data(raw, updated, self.ttl_s, self.extra),
                             etag_of(raw, self.extra))

    def remember(self, entries: list[dict[str, Any]], updated: int) -> CachedTop10:
        """This process's memo only (the hub does this before it pushes)."""
        return self._put(orjson.dumps(entries), updated)

    async def store(self, entries: list[dict[str, Any]]) -> None:
        """The Redis copy only, for every process."""
        await self.redis.set(self.key, orjson.dumps(entries), px=self.ttl_s * 1000)

    async def publish(self, entries: list[dict[str, Any]]) -> CachedTop10:
        """A freshly read top 10, into the memo and into Redis (serialized once)."""
        raw = orjson.dumps(entries)
        cached = self._put(raw, now_ms())
        await self.redis.set(self.key, raw, px=self.ttl_s * 1000)
        return cached

    async def invalidate(self) -> None:
        """Forget this board's top 10, here and in Redis: the next read builds it."""
        self.memo.current = None
        await self.redis.delete(self.key)

    async def current(self) -> CachedTop10:
        """The memo, else the Redis cache, else read, stored and returned."""
        cached = self.memo.get()
        if cached is not None:
            return cached
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.key)
            pipe.pttl(self.key)
            raw, pttl = await pipe.execute()
        if raw is not None and pttl > 0:
            updated = now_ms() - (self.ttl_s * 1000 - pttl)
            return self._put(raw, updated)
        return await self.publish(await self.reader.top())


class RichTop10:
    """`global`'s top 10 as its board route shows it (``/api/v1/boards/global/top10``):
    the entries with their metadata, which the seed's cache leaves out. Built from a
    read when first asked after the seed's memo was replaced, so it follows every
    change the hub pushes; between changes it is served from memory."""

    def __init__(self, reader: Reader, ttl_s: int, max_age_s: float) -> None:
        self.reader = reader
        self.ttl_s = ttl_s
        self.memo = Top10Memo(max_age_s)
        self.source: CachedTop10 | None = None
        self.extra = board_suffix(reader.board)

    def get(self, seed: CachedTop10) -> CachedTop10 | None:
        return self.memo.get() if self.source is seed else None

    async def build(self, seed: CachedTop10) -> CachedTop10:
        raw = orjson.dumps(await self.reader.top())
        self.source = seed
        return self.memo.put(top10_data(raw, now_ms(), self.ttl_s, self.extra),
                             etag_of(raw, self.extra))
