"""The live boards: PostgreSQL keeps the record, Redis's ``{lb}:boards`` the copy that
every script checks its caller against, and each process a cached view of it.

``{lb}:boards:version`` grows with every change. A script that writes to boards
takes the version its caller's view was read at and answers STALE when Redis has
moved on; the caller reloads and tries again. So a board created, changed or retired
by any process is obeyed by every other one from its next write on.

A reload first reads the version alone and reads the definitions only when it moved;
one reload is in flight per process, and a caller never returns on a read that
started before it asked (so a caller told STALE sees the new version). Listeners
(the hub) are told which boards changed: a process that missed a ``boards`` Pub/Sub
message catches up at the next reload, at the latest at the once-a-second season
check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg

from .. import errors
from ..store import keys, stream
from ..store.client import RedisClient
from .definitions import GLOBAL, ID_PATTERN, Board, decode, from_row

log = logging.getLogger(__name__)

LIVE_ROWS = "SELECT * FROM boards WHERE retired_at IS NULL ORDER BY id"
# a season that ended (by a reset or a retire), with the stream's position at its end
RECORD_ENDED = ("INSERT INTO board_seasons (board_id, season, started_at, ended_at, cut_id)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")


class Boards:
    def __init__(self, redis: RedisClient, pool: asyncpg.Pool) -> None:
        self.redis = redis
        self.pool = pool
        self.version = -1
        self.by_id: dict[str, Board] = {}
        self._feeding: dict[str, list[Board]] = {}  # per action, for this version
        self._raw: dict[str, bytes] = {}  # each definition as Redis holds it
        self._flight: asyncio.Future[None] | None = None
        self._flights = 0  # reads started so far; the one in flight is number _flights
        self._listeners: list[Callable[[set[str]], None]] = []

    def subscribe(self, listener: Callable[[set[str]], None]) -> None:
        """``listener(ids)`` after each reload that changed, added or removed boards."""
        self._listeners.append(listener)

    async def ensure(self) -> None:
        """A Redis without the definitions (new, or wiped) gets them from PostgreSQL.
        HSETNX: a definition an admin wrote meanwhile is never overwritten."""
        if await self.redis.exists(keys.BOARDS):
            return
        rows = await self.pool.fetch(LIVE_ROWS)
        async with self.redis.pipeline(transaction=True) as pipe:
            for row in rows:
                pipe.hsetnx(keys.BOARDS, row["id"], from_row(row).encode())
            pipe.incr(keys.BOARDS_VERSION)
            await pipe.execute()
        log.info("board definitions copied to Redis: %d", len(rows))

    async def load(self) -> None:
        """Bring this process's view up to Redis's version (one GET when it has not
        moved). Joins a read in flight only if that read started after this call."""
        asked = self._flights
        while True:
            if self._flight is None or self._flight.done():
                self._flights += 1
                self._flight = asyncio.ensure_future(self._read())
                self._flight.add_done_callback(_retrieved)
            flight, number = self._flight, self._flights
            await asyncio.shield(flight)
            if number > asked:
                return

    async def _read(self) -> None:
        version = int(await self.redis.get(keys.BOARDS_VERSION) or 0)
        if version == self.version and self.by_id:
            return
        version, raw = await stream.definitions(self.redis)
        if not raw:  # wiped under us: copy again, then read
            await self.ensure()
            return await self._read()
        changed = {i for i in raw.keys() | self._raw.keys() if raw.get(i) != self._raw.get(i)}
        self.by_id = {i: self.by_id[i] if i not in changed else decode(v)
                      for i, v in raw.items()}
        self._raw = raw
        self.version = version
        self._feeding = {}
        if changed:
            for listener in self._listeners:
                listener(changed)

    def live(self) -> list[Board]:
        return sorted(self.by_id.values(), key=lambda b: b.id)

    def feeding(self, action: str) -> list[Board]:
        """The boards ``action`` feeds, by id (the order of replies and events); worked
        out once per action and version of the definitions (callers do not change it)."""
        fed = self._feeding.get(action)
        if fed is None:
            fed = self._feeding[action] = [b for b in self.live() if b.feeds_on(action)]
        return fed

    def cached(self, board_id: str) -> Board | None:
        return self.by_id.get(board_id)

    async def get(self, board_id: str) -> Board:
        """A live board; one created by another process a moment ago is found too."""
        board = self.by_id.get(board_id)
        if board is None and ID_PATTERN.fullmatch(board_id):  # a malformed id costs nothing
            await self.load()
            board = self.by_id.get(board_id)
        if board is None:
            raise errors.NotFound(f"No board {board_id!r}")
        return board

    @property
    def global_board(self) -> Board:
        return self.by_id.get(GLOBAL) or Board(GLOBAL, "Global")


def _retrieved(flight: asyncio.Future[None]) -> None:
    """A read's error is raised to each caller waiting on it; none left waiting (all
    cancelled) is no error to report."""
    if not flight.cancelled():
        flight.exception()


def primary(boards: Sequence[Board]) -> Board:
    """The board whose fields the seed's update reply shows: `global` if fed, else the
    first of ``boards`` (in id order, as ``feeding`` gives them)."""
    return next((b for b in boards if b.id == GLOBAL), boards[0])


async def store(redis: RedisClient, board: Board, *, retired: bool = False) -> str | None:
    """Redis's copy of one definition, changed in one MULTI with the version (a retired
    board's sequence goes with it; ids are never reused). Returns the stream's last
    entry at that instant (None: empty): what had been applied before the change.
    Every process is told apart, on Pub/Sub (its channel is another cluster slot)."""
    async with redis.pipeline(transaction=True) as pipe:
        if retired:  # its season's keys stay until that season is archived
            pipe.hdel(keys.BOARDS, board.id)
            pipe.delete(board.keys.boardseq)
        else:
            pipe.hset(keys.BOARDS, board.id, board.encode())
        pipe.incr(keys.BOARDS_VERSION)
        pipe.xrevrange(keys.EVENTS, count=1)
        return stream.last_id((await pipe.execute())[-1])
